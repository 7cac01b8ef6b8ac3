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
