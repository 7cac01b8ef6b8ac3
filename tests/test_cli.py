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
    (["loss.type=hinge"], "loss.type: 'hinge' is not allowed"),
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
