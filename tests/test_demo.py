"""`modegan demo` trains the chosen presets, reuses finished runs, and writes the comparison."""

from modegan.cli import main


def test_demo_writes_comparison_and_reuses_runs(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path), "--steps", "2", "--presets", "gan,iwgan", "--workers", "1",
            "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "gan" in out and "iwgan" in out and "modes" in out
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "| iwgan |" in md and "n_samples" in md
    before = (tmp_path / "gan" / "metrics.jsonl").read_text()
    assert main(args) == 0  # finished runs with the same config are reused, not retrained
    assert (tmp_path / "gan" / "metrics.jsonl").read_text() == before


def test_demo_rejects_unknown_presets_before_training(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--presets", "gan,nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "gan").exists()
