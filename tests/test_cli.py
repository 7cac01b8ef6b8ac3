"""The command line: bad input gives one `error:` line and exit code 2; presets are listed."""

import numpy as np
import pytest

from modegan.cli import main

TINY = ["data.n_train=500", "model.g_width=16", "model.d_width=16", "train.batch_size=32",
        "train.eval_every=5", "train.eval_samples=100", "train.plots=false"]


def run_cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_one_line_error(code, err, match):
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and match in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("args, match", [
    (["--data", "ring9"], "unknown dataset 'ring9'; allowed: ring8, grid25"),
    (["--preset", "wgan-xx"], "unknown preset 'wgan-xx'; allowed: gan, wgan, wgan-gp"),
    (["loss.typo=3"], "unknown config key 'loss.typo'"),
    (["loss.type=logistic"], "loss.type: 'logistic' is not allowed"),
    (["train.batch_size=-4"], "train.batch_size: must be a positive integer"),
    (["--steps", "0"], "train.steps: must be a positive integer"),
])
def test_bad_train_input(tmp_path, capsys, args, match):
    code, _, err = run_cli(["train", *TINY, "--out", str(tmp_path / "r"), "--no-progress", *args], capsys)
    assert_one_line_error(code, err, match)
    assert not (tmp_path / "r").exists(), "nothing is written before the config is valid"


def test_malformed_csv_and_nan_data(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1.0,2.0\n3.0,oops\n")
    code, _, err = run_cli(["train", *TINY, "--data", str(bad), "--out", str(tmp_path / "r"), "--no-progress"], capsys)
    assert_one_line_error(code, err, "line 3")
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]))
    code, _, err = run_cli(["train", *TINY, "--data", str(nan), "--out", str(tmp_path / "r2"), "--no-progress"],
                           capsys)
    assert_one_line_error(code, err, "NaN")


def test_point_cloud_trains_with_w1_only(tmp_path, capsys):
    pts = tmp_path / "pts.csv"
    rng = np.random.default_rng(0)
    np.savetxt(pts, rng.normal(size=(300, 2)), delimiter=",")
    code, out, err = run_cli(["train", *TINY, "--data", str(pts), "--steps", "5", "--out", str(tmp_path / "r"),
                              "--no-progress"], capsys)
    assert code == 0, err
    assert "w1" in out and "modes" not in out


def test_resume_rejects_other_options_and_missing_runs(tmp_path, capsys):
    code, _, err = run_cli(["train", "--resume", str(tmp_path / "nothing")], capsys)
    assert_one_line_error(code, err, "is not a run directory")
    code, _, err = run_cli(["train", "--resume", str(tmp_path), "--preset", "gan"], capsys)
    assert_one_line_error(code, err, "--resume takes only --steps")


def test_eval_and_sample_on_missing_run(tmp_path, capsys):
    code, _, err = run_cli(["eval", str(tmp_path / "none")], capsys)
    assert_one_line_error(code, err, "is not a run directory")
    code, _, err = run_cli(["sample", str(tmp_path / "none"), "-n", "3", "-o", str(tmp_path / "x.npy")], capsys)
    assert_one_line_error(code, err, "is not a run directory")


def test_presets_lists_settings_and_sources(capsys):
    code, out, _ = run_cli(["presets"], capsys)
    assert code == 0
    for text in ("wgan-gp", "Gulrajani", "Arjovsky", "gp_weight=10.0", "clip=0.01"):
        assert text in out


def test_unknown_command_is_a_usage_error(capsys):
    code, _, err = run_cli(["trian"], capsys)
    assert code == 2 and "Traceback" not in err


def test_datasets_lists_every_builtin(capsys):
    code, out, _ = run_cli(["datasets"], capsys)
    assert code == 0
    for name, modes in (("ring8", "8"), ("grid25", "25"), ("grid25-random", "25"), ("cube27", "27")):
        assert name in out and modes in out
    assert "swissroll" in out


def test_one_column_data_trains_and_plots(tmp_path, capsys):
    """1-D point clouds are supported: the sample plots are histograms (the scatter plot's IndexError left
    the run 'running'), and the run finishes."""
    import json

    pts = tmp_path / "one.csv"
    np.savetxt(pts, np.random.default_rng(0).normal(size=(300, 1)), delimiter=",")
    tiny = [a for a in TINY if a != "train.plots=false"]
    code, out, err = run_cli(["train", *tiny, "--data", str(pts), "--steps", "5", "--out", str(tmp_path / "r"),
                              "--no-progress"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "finished"
    assert (tmp_path / "r" / "samples" / "step_0000005.png").stat().st_size > 0
    code, _, err = run_cli(["sample", str(tmp_path / "r"), "-n", "7", "-o", str(tmp_path / "s.npy")], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (7, 1)


def test_help_and_no_arguments_still_show_help(capsys):
    """Usage errors are one line now; --help (exit 0) and a bare command (help, exit 2) are unchanged."""
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0 and "--steps" in out
    code, out, err = run_cli([], capsys)
    assert code == 2 and "train" in out + err and "Traceback" not in err
    code, out, err = run_cli(["bench"], capsys)
    assert code == 2 and "stacked-mnist" in out + err


def test_unwritable_out_is_refused_before_writing(tmp_path, capsys, monkeypatch):
    """A read-only --out / -o parent is one line and nothing is written (os.access is patched: tests run as root,
    where chmod does not stop writes)."""
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).startswith(str(ro)) else
                        real_access(p, mode, **kw))
    for args in (["train", *TINY, "--out", str(ro / "r"), "--no-progress"],
                 ["bench", "mog", "--out", str(ro / "b"), "--methods", "gan", "--datasets", "ring8", "--seeds", "1"],
                 ["demo", "--out", str(ro / "d")],
                 ["classifier", "train", "--out", str(ro / "c.safetensors")],
                 ["sample", str(tmp_path / "no-run"), "-o", str(ro / "s.npy")],
                 ["compare", str(tmp_path / "no-run"), "--out", str(ro / "cmp")]):
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, "is not writable")
    assert list(ro.iterdir()) == []


def test_os_error_while_writing_is_one_line(tmp_path, capsys, monkeypatch, tiny):
    """An OSError found only while writing (a disk, a permission) is one line naming the path, not a traceback."""
    import modegan
    import modegan.bench.suite as suite

    modegan.train({**tiny, "preset": "gan"}, out=tmp_path / "runs" / "gan")

    def denied(*_, **__):
        raise PermissionError(13, "Permission denied", str(tmp_path / "cmp" / "results.csv"))

    monkeypatch.setattr(suite, "write_outputs", denied)
    code, _, err = run_cli(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "cmp")], capsys)
    assert_one_line_error(code, err, "cannot access")
    assert "Permission denied" in err and "results.csv" in err


def test_bench_data_file_gets_its_own_run_directory(tmp_path):
    """A data file in `bench mog --datasets` trains under OUT/runs/<file stem>/, recorded by its absolute path
    (its run directories used to be the data path itself)."""
    from modegan.bench.mog import plan_mog

    pts = tmp_path / "data" / "blobs.csv"
    pts.parent.mkdir()
    np.savetxt(pts, np.random.default_rng(0).normal(size=(50, 2)), delimiter=",")
    plan = plan_mog(tmp_path / "b", methods=["gan"], datasets=[str(pts)], seeds=2, steps=10)
    assert [s.path for s in plan.specs] == [tmp_path / "b" / "runs" / "blobs" / "gan" / f"seed{k}" for k in (0, 1)]
    assert {s.cfg.data.name for s in plan.specs} == {str(pts.resolve())}
    assert not (tmp_path / "b").exists(), "planning writes nothing"
