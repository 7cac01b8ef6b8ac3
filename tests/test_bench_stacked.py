"""`bench stacked-mnist` on synthesised MNIST files: both settings, published numbers, image report."""

from __future__ import annotations

import csv

from modegan.bench.published import STACKED_UNROLLED, STACKED_VEEGAN
from modegan.bench.stacked import plan_stacked, run_stacked
from modegan.cli import main

TINY = {"model": {"g_width": 4, "d_width": 4, "z_dim": 8}, "data": {"n_train": 64, "verify": False},
        "train": {"batch_size": 8, "eval_samples": 32, "feature_samples": 16}, "diwgan": {"ae_steps": 2}}


def test_settings_fix_networks_batch_and_gan_optimisers(mnist_dir, stub_classifier, tmp_path):
    plan = plan_stacked(tmp_path, methods=["gan", "wgan-gp"], seeds=1, steps=4, data_dir=str(mnist_dir),
                        classifier=str(stub_classifier))
    cfg = {(s.dataset, s.method): s.cfg for s in plan.specs}
    v, u = cfg[(STACKED_VEEGAN, "gan")], cfg[(STACKED_UNROLLED, "gan")]
    assert (v.model.arch, v.model.z_dim, v.model.g_width, v.model.d_width, v.train.batch_size) == ("dcgan", 100, 64,
                                                                                                    64, 64)
    assert (u.model.z_dim, u.model.g_width, u.model.d_width, u.train.batch_size) == (256, 64, 16, 128)
    assert (v.g_optim.lr, tuple(v.g_optim.betas)) == (2e-4, (0.5, 0.999))
    assert (u.g_optim.lr, u.d_optim.lr, tuple(u.d_optim.betas)) == (1e-4, 2e-4, (0.5, 0.99))
    wgp = cfg[(STACKED_UNROLLED, "wgan-gp")]
    assert (wgp.g_optim.lr, tuple(wgp.g_optim.betas), wgp.model.d_width) == (1e-4, (0.5, 0.9), 16)  # its own optimiser
    assert v.train.eval_samples == 26_000 and v.data.n_train == 128_000  # the protocol (benchmarks.md §4)


def test_stacked_bench_writes_tables_beside_published_numbers_and_resumes(mnist_dir, stub_classifier, tmp_path):
    kw = {"methods": ["gan", "pacgan2"], "seeds": 2, "steps": 4, "eval_every": 2, "data_dir": str(mnist_dir),
          "classifier": str(stub_classifier), "overrides": TINY}
    rows = run_stacked(tmp_path, **kw)
    assert len(rows) == 2 * 2 * 2 and all(r.status == "finished" for r in rows)
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert {"modes", "kl", "fd", "kid", "precision", "recall", "density", "coverage"} <= set(table[0])
    assert all(1 <= float(r["modes"]) <= 32 and 0 <= float(r["kl"]) <= 6.91 for r in table)
    md = (tmp_path / "results.md").read_text()
    assert "## stacked-mnist/veegan-setting" in md and "## stacked-mnist/unrolled-setting" in md
    assert "VEEGAN (Srivastava et al. 2017), Table 2" in md and "PacGAN (Lin et al. 2018), Table 3" in md
    assert "1000.0 ± 0.00" in md
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 * 7  # per setting: the report's 7 figures
    gen = tmp_path / "runs" / STACKED_VEEGAN / "gan" / "seed1" / "generator.safetensors"
    mtime = gen.stat().st_mtime_ns
    run_stacked(tmp_path, **kw)
    assert gen.stat().st_mtime_ns == mtime


def test_stacked_bench_needs_the_classifier_and_known_settings(tmp_path, capsys):
    assert main(["bench", "stacked-mnist", "--out", str(tmp_path), "--classifier", str(tmp_path / "no.st")]) == 2
    assert "no MNIST classifier at" in capsys.readouterr().err
    assert main(["bench", "stacked-mnist", "--out", str(tmp_path), "--settings", "pacgan"]) == 2
    assert "unknown setting 'pacgan'; allowed: veegan, unrolled" in capsys.readouterr().err
