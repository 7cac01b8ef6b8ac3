"""`modegan demo` runs the benchmark on a small budget, reuses finished runs, and ends with the report."""

from modegan.cli import main


def test_demo_writes_the_report_and_reuses_runs(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path), "--steps", "4", "--presets", "gan,iwgan", "--seeds", "2",
            "--workers", "1", "--data", "ring8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "iwgan" in out and "modes" in out and "report.html" in out
    assert "expected about" in out and out.count(" left") == 2  # the estimate, then the time left after each job
    assert (tmp_path / "report.html").stat().st_size > 10_000
    md = (tmp_path / "results.md").read_text()
    assert "| iwgan |" in md and "n_samples" in md and "4 generator steps" in md
    before = (tmp_path / "runs" / "ring8" / "gan" / "seed1" / "metrics.jsonl").read_text()
    assert main(args) == 0  # finished runs with the same config are reused, not retrained
    assert (tmp_path / "runs" / "ring8" / "gan" / "seed1" / "metrics.jsonl").read_text() == before


def test_demo_rejects_unknown_presets_before_training(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--presets", "gan,nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_demo_defaults_are_the_converged_setting():
    """The CLI's defaults are demo.py's: ring8 at 10,000 steps, where the budget study shows DIWGAN settled."""
    import inspect

    from modegan import cli
    from modegan.demo import DEMO_DATA, DEMO_PRESETS, DEMO_STEPS

    params = inspect.signature(cli.demo).parameters
    assert params["data"].default.default == DEMO_DATA == "ring8"
    assert params["steps"].default.default == DEMO_STEPS >= 10_000
    assert "gan" in DEMO_PRESETS and "diwgan" in DEMO_PRESETS
