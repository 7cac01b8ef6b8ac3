"""Corrupt, partial and contended run directories (issue 14 §3–4): one `error:` line naming the file, nothing
already written is lost, and the states a kill or a full disk leaves resume cleanly."""

from __future__ import annotations

import errno
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import modegan
from conftest import metrics_lines
from modegan.cli import main
from modegan.config import merge
from modegan.errors import ModeganError
from modegan.train import files
from modegan.train.rundir import RunDir
from test_cli import assert_one_line_error

TINY = ["--preset", "gan", "--data", "ring8", "--no-progress", "data.n_train=500", "model.g_width=16",
        "model.d_width=16", "train.batch_size=32", "train.eval_every=10", "train.eval_samples=100",
        "train.plots=false"]
TINY_CFG = {"preset": "gan", "data": {"name": "ring8", "n_train": 500}, "model": {"g_width": 16, "d_width": 16},
            "train": {"steps": 40, "batch_size": 32, "eval_every": 10, "eval_samples": 100, "plots": False}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 20-step run (checkpoints at 0, 10, 20), copied by each test that corrupts it."""
    d = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *TINY, "--steps", "20", "--out", str(d)]) == 0
    return d


@pytest.fixture
def run(finished, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(finished, d)
    return d


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The same config trained to 40 steps without interruption: what every recovered run must equal."""
    d = tmp_path_factory.mktemp("whole") / "run"
    assert main(["train", *TINY, "--steps", "40", "--out", str(d)]) == 0
    return d


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != ".lock"}


# --- corruptions -------------------------------------------------------------------------------------------


def _no_generator(d):
    """A run killed before it finished has no generator.safetensors: eval and sample read the checkpoint."""
    (d / "generator.safetensors").unlink()


def _ckpt(d, state):
    _no_generator(d)
    torch.save(state, d / "checkpoint.pt")


def _good_state(d):
    return torch.load(d / "checkpoint.pt", weights_only=True)


def _edit_state(d, fn):
    state = _good_state(d)
    fn(state)
    _ckpt(d, state)


def _edit_config(d, fn):
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    fn(cfg)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _wrong_g_shape(s):
    k = next(iter(s["modules"]["G"]))
    s["modules"]["G"][k] = torch.zeros(3, 3)


def _wrong_adam_shape(s):
    st = s["optimizers"]["G"]["state"]
    st[next(iter(st))]["exp_avg"] = torch.zeros(3)


def _drop_section(c):
    del c["loss"]


def _widen(c):
    c["model"]["g_width"] = 24


CORRUPTIONS = {
    # name: (corrupt(run_dir), {command: message fragment, for the commands that must refuse})
    "checkpoint empty": (lambda d: (_no_generator(d), (d / "checkpoint.pt").write_bytes(b"")),
                         dict.fromkeys(("resume", "eval", "sample"), "checkpoint.pt is empty")),
    "checkpoint truncated": (lambda d: (_no_generator(d), _truncate(d / "checkpoint.pt")),
                             dict.fromkeys(("resume", "eval", "sample"), "cannot read checkpoint")),
    "checkpoint garbage": (lambda d: (_no_generator(d), (d / "checkpoint.pt").write_bytes(os.urandom(300))),
                           dict.fromkeys(("resume", "eval", "sample"), "cannot read checkpoint")),
    "checkpoint not a dict": (lambda d: _ckpt(d, [1, 2]),
                              dict.fromkeys(("resume", "eval", "sample"), "is not a modegan checkpoint")),
    "checkpoint without modules": (lambda d: _edit_state(d, lambda s: s.pop("modules")),
                                   dict.fromkeys(("resume", "eval", "sample"), "'modules' must map names")),
    "checkpoint step a string": (lambda d: _edit_state(d, lambda s: s.update(step="20")),
                                 dict.fromkeys(("resume", "eval", "sample"), "'step' must be a non-negative")),
    "checkpoint module a list": (lambda d: _edit_state(d, lambda s: s["modules"].update(G=[1])),
                                 dict.fromkeys(("resume", "eval", "sample"), "'modules' must map names")),
    "checkpoint G state misfit": (lambda d: _edit_state(d, _wrong_g_shape),
                                  dict.fromkeys(("resume", "eval", "sample"), "checkpoint.pt does not fit")),
    "checkpoint optimizer misfit": (lambda d: _edit_state(d, lambda s: s["optimizers"]["G"].update(param_groups=[])),
                                    {"resume": "checkpoint.pt does not fit the run's config.yaml (optimizer G"}),
    "checkpoint Adam state misfit": (lambda d: _edit_state(d, _wrong_adam_shape),
                                     {"resume": "(optimizer G: exp_avg of shape (3,) for a parameter of shape"}),
    "checkpoint extra module": (lambda d: _edit_state(d, lambda s: s["modules"].update(F={})),
                                {"resume": "state for F, which this config does not build"}),
    "checkpoint rng not a state": (lambda d: _edit_state(d, lambda s: s["rng"].update(train=torch.zeros(3))),
                                   dict.fromkeys(("resume", "eval", "sample"), "'rng.train' must be a generator")),
    "generator truncated": (lambda d: _truncate(d / "generator.safetensors"),
                            dict.fromkeys(("eval", "sample"), "cannot read generator weights")),
    "generator garbage": (lambda d: (d / "generator.safetensors").write_bytes(b"\x00\x01garbage" * 10),
                          dict.fromkeys(("eval", "sample"), "cannot read generator weights")),
    "summary half-written": (lambda d: _truncate(d / "summary.json"),
                             dict.fromkeys(("eval", "sample", "compare"), "summary.json is not valid JSON")),
    "summary a list": (lambda d: (d / "summary.json").write_text("[1, 2]\n"),
                       dict.fromkeys(("eval", "sample", "compare"), "summary.json must hold a JSON object")),
    "summary step a string": (lambda d: (d / "summary.json").write_text(json.dumps(
                                  {**json.loads((d / "summary.json").read_text()), "step": "x"})),
                              {"compare": "summary.json: 'step' has the wrong type"}),
    "metrics binary": (lambda d: (d / "metrics.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 20),
                       dict.fromkeys(("resume", "compare"), "metrics.jsonl is not UTF-8 text")),
    "metrics bad middle line": (lambda d: (d / "metrics.jsonl").write_text(
                                    "{not json\n" + (d / "metrics.jsonl").read_text()),
                                dict.fromkeys(("resume", "compare"), "metrics.jsonl:1 is not valid JSON")),
    "metrics line not a record": (lambda d: (d / "metrics.jsonl").write_text(
                                      "[1, 2]\n" + (d / "metrics.jsonl").read_text()),
                                  dict.fromkeys(("resume", "compare"), "metrics.jsonl:1 is not an evaluation")),
    "config empty": (lambda d: (d / "config.yaml").write_text(""),
                     dict.fromkeys(("resume", "eval", "sample", "compare"), "config.yaml is empty")),
    "config truncated": (lambda d: _truncate(d / "config.yaml", 0.3),
                         dict.fromkeys(("resume", "eval", "sample", "compare"), "config.yaml is incomplete")),
    "config missing a section": (lambda d: _edit_config(d, _drop_section),
                                 dict.fromkeys(("resume", "eval", "sample", "compare"), "missing loss")),
    "config binary": (lambda d: (d / "config.yaml").write_bytes(b"\xff\xfe\x00binary"),
                      dict.fromkeys(("resume", "eval", "sample", "compare"), "config.yaml is not UTF-8")),
    "config a list": (lambda d: (d / "config.yaml").write_text("- 1\n- 2\n"),
                      dict.fromkeys(("resume", "eval", "sample", "compare"), "must hold a mapping")),
    "config widths changed": (lambda d: _edit_config(d, _widen),
                              {"resume": "checkpoint.pt does not fit the run's config.yaml (module G: size mismatch",
                               "eval": "generator.safetensors does not fit the generator of the run's config.yaml",
                               "sample": "generator.safetensors does not fit"}),
    "config widths changed, no generator": (lambda d: (_edit_config(d, _widen), _no_generator(d)),
                                            dict.fromkeys(("resume", "eval", "sample"),
                                                          "checkpoint.pt does not fit")),
}


def command(name, d, tmp_path):
    return {"resume": ["train", "--resume", str(d), "--steps", "40", "--no-progress"],
            "eval": ["eval", str(d), "--json"],
            "sample": ["sample", str(d), "-n", "5", "-o", str(tmp_path / "s.npy")],
            "compare": ["compare", str(d), "--out", str(tmp_path / "cmp"), "--no-report"]}[name]


@pytest.mark.parametrize("cmd", ["resume", "eval", "sample", "compare"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_run_files_give_one_line_and_change_nothing(run, tmp_path, capsys, corruption, cmd):
    """Each corruption through each command: one line naming the file, or (where the command does not read
    that file) success. A refusal leaves every file as it was."""
    corrupt, refusals = CORRUPTIONS[corruption]
    corrupt(run)
    before = snapshot(run)
    code = main(command(cmd, run, tmp_path))
    err = capsys.readouterr().err
    if cmd in refusals:
        assert_one_line_error(code, err, refusals[cmd])
        assert str(run) in err, "the message names the run's file"
        assert snapshot(run) == before
    else:
        assert code == 0, err


def test_an_emptied_config_is_not_resumed_as_the_defaults(run, capsys):
    """The reported case: a ring8 run whose config.yaml was emptied resumed as grid25 and rewrote its config."""
    (run / "config.yaml").write_text("")
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert "config.yaml is empty" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == ""
    assert json.loads((run / "summary.json").read_text())["dataset"]["name"] == "ring8"


def test_checkpoint_past_the_configs_steps_is_refused(run, capsys):
    _edit_config(run, lambda c: c["train"].update(steps=10))
    code = main(["train", "--resume", str(run), "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, "is at step 20, past train.steps 10")


# --- torn metrics line, a kill before the first checkpoint --------------------------------------------------


def test_torn_last_metrics_line_is_dropped_and_redone(run, whole):
    """A kill during the append of step 30's line leaves half a line. `evaluate` appends before it checkpoints,
    so that line is always past the last checkpoint (20 here): resume drops it and redoes it exactly."""
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "elapsed_s": 1.2, "d_lo')
    assert [r["step"] for r in RunDir(run).read_metrics()] == [10, 20]  # readers skip it
    assert main(["train", "--resume", str(run), "--steps", "40", "--no-progress"]) == 0
    assert metrics_lines(run) == metrics_lines(whole)
    assert (run / "metrics.jsonl").read_text().endswith("}\n")


def _kill_at(monkeypatch, name: str, nth: int = 1):
    """Make the nth write of file `name` stop half-way as a SIGKILL would (no cleanup runs)."""
    real, seen = files._write, []

    def killed(f, data):
        if Path(f.name).name == name + ".tmp":
            seen.append(1)
            if len(seen) == nth:
                f.write(data[: len(data) // 2])
                f.flush()
                raise KeyboardInterrupt  # not an OSError: the temporary file stays, like after a kill
        real(f, data)

    monkeypatch.setattr(files, "_write", killed)


def test_kill_during_the_first_checkpoint_write_resumes_from_step_0(tmp_path, whole, monkeypatch, capsys):
    """Config written, checkpoint.pt.tmp half-written, no checkpoint.pt: nothing to lose, so `--resume`
    starts it again (and removes the stale temp file); a new run into it says to resume or overwrite."""
    d = tmp_path / "run"
    _kill_at(monkeypatch, "checkpoint.pt")
    with pytest.raises(KeyboardInterrupt):
        modegan.train(TINY_CFG, out=d)
    monkeypatch.undo()
    assert (d / "config.yaml").is_file() and (d / "checkpoint.pt.tmp").is_file()
    assert not (d / "checkpoint.pt").exists()
    code = main(["train", *TINY, "--steps", "40", "--out", str(d)])
    assert_one_line_error(code, capsys.readouterr().err, "already holds a run; resume it with --resume")
    assert main(["train", "--resume", str(d), "--no-progress"]) == 0
    assert metrics_lines(d) == metrics_lines(whole)
    assert not list(d.rglob("*.tmp"))


def test_a_run_with_evaluations_but_no_checkpoint_is_not_restarted(run, capsys):
    """Evaluations without a checkpoint are not a never-started run: refuse rather than overwrite them."""
    (run / "checkpoint.pt").unlink()
    before = snapshot(run)
    code = main(["train", "--resume", str(run), "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, "no checkpoint at")
    assert snapshot(run) == before


def test_stale_temporary_files_are_removed_on_resume(run):
    for name in ("summary.json.tmp", "metrics.jsonl.tmp", "checkpoint.pt.tmp"):
        (run / name).write_bytes(b"half")
    assert main(["train", "--resume", str(run), "--steps", "30", "--no-progress"]) == 0
    assert not list(run.glob("*.tmp"))


# --- the run lock --------------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from modegan.train.files import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding a run directory's lock."""

    def start(d):
        env = {**os.environ, "PYTHONPATH": str(Path(modegan.__file__).parents[1])}
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(d)], stdout=subprocess.PIPE, env=env)
        procs.append(proc)
        assert proc.stdout.readline().strip() == b"locked"
        return proc

    procs: list[subprocess.Popen] = []
    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_a_second_train_into_a_locked_run_is_refused_with_the_holders_pid(run, holder, capsys):
    """A resume and an overwriting new run are both refused while another process holds the lock."""
    proc = holder(run)
    before = snapshot(run)
    code = main(["train", "--resume", str(run), "--steps", "30", "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, f"is in use by another modegan process (PID {proc.pid})")
    code = main(["train", *TINY, "--steps", "20", "--out", str(run), "--overwrite"])
    assert_one_line_error(code, capsys.readouterr().err, f"(PID {proc.pid})")
    assert snapshot(run) == before
    proc.kill()
    proc.wait()  # a dead holder's lock is gone with it
    assert main(["train", "--resume", str(run), "--steps", "30", "--no-progress"]) == 0


@pytest.mark.slow  # two CLI processes start (about 20 s on a loaded machine); the holder tests cover the lock
def test_two_concurrent_cli_trains_into_one_directory(tmp_path):
    """The reported case, end to end: while the first `modegan train` runs, a second one into the same --out
    (even with --overwrite) fails at once naming the first's PID, and the first's run is untouched."""
    d = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(modegan.__file__).parents[1])}
    cli = [sys.executable, "-m", "modegan.cli", "train", *TINY, "--out", str(d)]
    first = subprocess.Popen([*cli, "--steps", "1000000"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (d / "metrics.jsonl").exists():
            assert first.poll() is None and time.time() < deadline, first.stderr.read().decode()
            time.sleep(0.05)
        second = subprocess.run([*cli, "--steps", "20", "--overwrite"], env=env, capture_output=True, text=True,
                                timeout=60)
        assert first.poll() is None, "the first run is still training"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2 and f"(PID {first.pid})" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert yaml.safe_load((d / "config.yaml").read_text())["train"]["steps"] == 1000000
    assert torch.load(d / "checkpoint.pt", weights_only=True)["step"] >= 10


def test_batched_seeds_take_every_lock(tmp_path, holder):
    from modegan.train.batched import train_seeds

    cfgs = [merge(TINY_CFG, {"train": {"seed": s, "steps": 10}}) for s in (0, 1)]
    proc = holder(tmp_path / "s1")
    with pytest.raises(ModeganError, match=rf"s1 is in use by another modegan process \(PID {proc.pid}\)"):
        train_seeds(cfgs, [tmp_path / "s0", tmp_path / "s1"])
    assert not snapshot(tmp_path / "s0"), "nothing trained while a seed's directory was held"


# --- a full disk ----------------------------------------------------------------------------------------------


def _full_at(monkeypatch, name: str, nth: int):
    """From the nth write of `name` on, the disk is full: half the bytes go out, then ENOSPC."""
    real, seen = files._write, []

    def full(f, data):
        if Path(f.name).name in (name, name + ".tmp"):
            seen.append(1)
            if len(seen) >= nth:
                f.write(data[: len(data) // 2])
                f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(f, data)

    monkeypatch.setattr(files, "_write", full)


@pytest.mark.parametrize("name, nth, last_ckpt", [
    ("checkpoint.pt", 3, 10),  # writes at steps 0, 10, 20, ...: the step-20 write fails
    ("metrics.jsonl", 2, 10),  # step 20's line
    ("summary.json", 2, 40),  # the finished summary (the first says 'running')
    ("generator.safetensors", 1, 40),
])
def test_full_disk_is_one_line_keeps_the_last_checkpoint_and_resumes(tmp_path, whole, monkeypatch, capsys, name,
                                                                      nth, last_ckpt):
    d = tmp_path / "run"
    _full_at(monkeypatch, name, nth)
    code = main(["train", *TINY, "--steps", "40", "--out", str(d)])
    assert_one_line_error(code, capsys.readouterr().err, f"no space left on device writing {d / name}")
    monkeypatch.undo()
    assert not list(d.rglob("*.tmp")), "the temporary file is removed"
    assert torch.load(d / "checkpoint.pt", weights_only=True)["step"] == last_ckpt
    lines = (d / "metrics.jsonl").read_text()
    assert lines.endswith("}\n"), "a failed append is cut back, not left torn"
    assert main(["train", "--resume", str(d), "--no-progress"]) == 0
    assert metrics_lines(d) == metrics_lines(whole)


def test_full_disk_while_plotting(tmp_path, monkeypatch, capsys):
    run_module = importlib.import_module("modegan.train.run")  # modegan.train is also the function

    def full(path, *a, **k):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(run_module, "scatter_png", full)
    d = tmp_path / "run"
    code = main(["train", *TINY, "--steps", "20", "--out", str(d), "train.plots=true"])
    assert_one_line_error(code, capsys.readouterr().err, "no space left on device writing")
    assert not list((d / "samples").glob("*"))
    summary = json.loads((d / "summary.json").read_text())
    assert summary["status"] == "failed" and "no space left" in summary["error"]


def test_write_errors_name_the_reason():
    assert str(files.write_error(Path("/x/a"), OSError(errno.EDQUOT, "q"))) == "disk quota exceeded writing /x/a"
    assert str(files.write_error(Path("/x/a"), OSError(errno.EROFS, "r"))) == "read-only file system writing /x/a"


def test_a_bench_on_a_full_disk_reports_the_failing_run_and_finishes_the_others(tmp_path, monkeypatch):
    """Every write of seed 1's run fails (even its failure summary); seed 0 still finishes, the bench ends."""
    from modegan.bench import run_mog

    real = files._write

    def full(f, data):
        if "seed1" in f.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(f, data)

    monkeypatch.setattr(files, "_write", full)
    reported = []
    with pytest.warns(UserWarning, match="batched training failed .*no space left"):  # then seed by seed
        rows = run_mog(tmp_path, methods=["gan"], datasets=["ring8"], seeds=2, steps=20, eval_every=10, workers=1,
                       overrides={"data": {"n_train": 500}, "train": {"eval_samples": 100}},
                       on_done=lambda job, res: reported.extend(res))
    status = {Path(r["path"]).name: r for r in reported}
    assert status["seed0"]["status"] == "finished"
    assert status["seed1"]["status"] == "failed" and "no space left on device writing" in status["seed1"]["error"]
    assert [r.status for r in rows] == ["finished", "failed"]


# --- CIFAR-10: checksum before unpickling ------------------------------------------------------------------------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_a_doctored_cifar_batch_is_not_unpickled(tmp_path):
    """A pickle that writes a marker file when loaded: refused on its checksum before it is unpickled;
    with verify=False (trusted files) it is unpickled, which is what the docs warn about."""
    from modegan.data.cifar import load_cifar10

    marker = tmp_path / "marker"
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": []}))
    with pytest.raises(ModeganError, match="test_batch has MD5 .* it is not unpickled"):
        load_cifar10(tmp_path, split="test")
    assert not marker.exists()
    with pytest.raises(ModeganError):
        load_cifar10(tmp_path, split="test", verify=False)
    assert marker.read_text() == "pwned"


def test_a_second_bench_names_the_running_ones_pid(tmp_path, capsys):
    """`bench mog` keeps refusing a second benchmark on one directory, now naming the holder's PID."""
    from modegan.bench.runs import exclusive

    with exclusive(tmp_path):
        code = main(["bench", "mog", "--methods", "gan", "--datasets", "ring8", "--seeds", "1", "--steps", "2",
                     "--out", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr().err, f"another benchmark is running in {tmp_path} "
                          f"(PID {os.getpid()})")


def test_compare_report_on_a_corrupt_sample_plot(tmp_path, capsys):
    """The report reads each run's sample PNGs: a truncated one is one line naming it; a plot temp file left
    by a kill is not taken for a plot."""
    d = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "20", "--out", str(d), "train.plots=true"]) == 0
    (d / "samples" / "tmp-step_0000030.png").write_bytes(b"half")
    assert main(["compare", str(d), "--out", str(tmp_path / "cmp")]) == 0
    _truncate(d / "samples" / "step_0000010.png", 0.2)
    code = main(["compare", str(d), "--out", str(tmp_path / "cmp2")])
    assert_one_line_error(code, capsys.readouterr().err, f"cannot read sample plot {d / 'samples'}/step_0000010.png")
