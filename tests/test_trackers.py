"""train.tracker: TensorBoard, Weights & Biases (offline) and MLflow (local file store), each read back with the
backend's own reader; resume; a missing extra; the batched trainer's logs."""

import json
import sys

import pytest

import modegan
from modegan.config import build_config, merge
from modegan.errors import ModeganError

STEPS = {"steps": 40, "eval_every": 20, "log_every": 10, "plots": True}
LOSS_STEPS = [10, 20, 30, 40]
EVAL_STEPS = [20, 40]


def tracked(tiny, tracker, **train):
    return merge(tiny, {"preset": "gan", "train": {**STEPS, "tracker": tracker, **train}})


def interrupt_at(monkeypatch, at: int) -> None:
    """Make the training loop's step `at` raise KeyboardInterrupt (the run keeps its checkpoint at 20)."""
    import modegan.train.run as run_module

    real, calls = run_module.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "train_step", step)


def train_interrupted_then_resumed(monkeypatch, cfg, out):
    with monkeypatch.context() as m:
        interrupt_at(m, 35)
        with pytest.raises(KeyboardInterrupt):
            modegan.train(cfg, out=out)
    return modegan.train(resume=out)


# --- TensorBoard ----------------------------------------------------------------------------------------


def tensorboard_events(run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_logs_step_losses_metrics_and_samples(tmp_path, tiny):
    pytest.importorskip("tensorboard")
    modegan.train(tracked(tiny, "tensorboard"), out=tmp_path / "r")
    acc = tensorboard_events(tmp_path / "r")
    tags = acc.Tags()
    assert [e.step for e in acc.Scalars("loss/d_loss")] == LOSS_STEPS
    assert [e.step for e in acc.Scalars("metrics/modes")] == EVAL_STEPS
    assert {"train/g_loss", "train/grad_norm_d", "d_input_grad/real_mean"} <= set(tags["scalars"])
    assert tags["images"] == ["samples"] and [e.step for e in acc.Images("samples")] == EVAL_STEPS
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in acc.Scalars("metrics/modes")] == pytest.approx([r["metrics"]["modes"] for r in lines])


def test_tensorboard_resume_drops_what_the_interrupted_session_logged_past_the_checkpoint(
        tmp_path, tiny, monkeypatch):
    pytest.importorskip("tensorboard")
    train_interrupted_then_resumed(monkeypatch, tracked(tiny, "tensorboard"), tmp_path / "r")
    modegan.train(tracked(tiny, "tensorboard"), out=tmp_path / "whole")
    resumed, whole = tensorboard_events(tmp_path / "r"), tensorboard_events(tmp_path / "whole")
    assert [e.step for e in resumed.Scalars("loss/d_loss")] == LOSS_STEPS  # step 30 once, not twice
    for tag in ("loss/d_loss", "metrics/modes"):
        assert [e.value for e in resumed.Scalars(tag)] == [e.value for e in whole.Scalars(tag)]


def test_train_tensorboard_true_is_the_older_spelling(tmp_path, tiny):
    pytest.importorskip("tensorboard")
    cfg = merge(tiny, {"train": {"tensorboard": True, "log_every": 20}})
    modegan.train(cfg, out=tmp_path / "r")
    assert [e.step for e in tensorboard_events(tmp_path / "r").Scalars("loss/g_loss")] == [20, 40]
    with pytest.raises(ModeganError, match="older spelling of train.tracker=tensorboard.*tracker=wandb"):
        build_config(overrides={"train": {"tensorboard": True, "tracker": "wandb"}})


def test_overwrite_clears_the_old_runs_tracker_logs(tmp_path, tiny):
    pytest.importorskip("tensorboard")
    modegan.train(tracked(tiny, "tensorboard"), out=tmp_path / "r")
    modegan.train(tracked(tiny, "tensorboard", steps=20), out=tmp_path / "r", overwrite=True)
    assert [e.step for e in tensorboard_events(tmp_path / "r").Scalars("loss/d_loss")] == [10, 20]


# --- Weights & Biases, offline -----------------------------------------------------------------------------


def wandb_history(run_dir, record_type="history"):
    """The history rows (or the records of another type) of an offline wandb run, from its .wandb file."""
    pytest.importorskip("wandb")
    from modegan.train.trackers import wandb_records

    (path,) = run_dir.glob("run-*.wandb")
    records = [r for r in wandb_records(path) if r.WhichOneof("record_type") == record_type]
    if record_type != "history":
        return [getattr(r, record_type) for r in records]
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
            for r in records]


def steps_of(rows, key):
    return [r["_step"] for r in rows if key in r]


def test_wandb_logs_offline_inside_the_run_directory(tmp_path, tiny):
    pytest.importorskip("wandb")
    modegan.train(tracked(tiny, "wandb"), out=tmp_path / "r")
    state = json.loads((tmp_path / "r" / "tracker.json").read_text())
    assert state["backend"] == "wandb" and len(state["runs"]) == 1
    (run_dir,) = (tmp_path / "r" / "wandb").glob("offline-run-*")
    rows = wandb_history(run_dir)
    assert steps_of(rows, "loss/d_loss") == LOSS_STEPS
    assert steps_of(rows, "metrics/modes") == EVAL_STEPS
    assert steps_of(rows, "samples/path") == EVAL_STEPS
    assert all((run_dir / "files" / r["samples/path"]).is_file() for r in rows if "samples/path" in r)


def test_wandb_resume_is_a_second_run_in_the_first_ones_group(tmp_path, tiny, monkeypatch):
    pytest.importorskip("wandb")
    train_interrupted_then_resumed(monkeypatch, tracked(tiny, "wandb"), tmp_path / "r")
    first, second = json.loads((tmp_path / "r" / "tracker.json").read_text())["runs"]
    assert (first["from_step"], second["from_step"]) == (0, 20)
    assert first["dir"].startswith("wandb/offline-run-")
    assert steps_of(wandb_history(tmp_path / "r" / first["dir"]), "loss/d_loss") == [10, 20, 30]
    assert steps_of(wandb_history(tmp_path / "r" / second["dir"]), "loss/d_loss") == [30, 40]
    runs = [wandb_history(tmp_path / "r" / r["dir"], "run")[0] for r in (first, second)]
    assert [r.run_group for r in runs] == [first["id"], first["id"]]
    assert runs[1].display_name == "r (resumed at step 20)"


# --- MLflow, a local file store --------------------------------------------------------------------------


def mlflow_runs(run):
    pytest.importorskip("mlflow")
    import mlflow

    from modegan.train.trackers import mlflow_uri

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri(run, None))
    ids = [r["id"] for r in json.loads((run / "tracker.json").read_text())["runs"]]
    return client, [client.get_run(i) for i in ids]


def test_mlflow_logs_to_a_file_store_in_the_run_directory(tmp_path, tiny):
    pytest.importorskip("mlflow")
    modegan.train(tracked(tiny, "mlflow"), out=tmp_path / "r")
    assert (tmp_path / "r" / "mlruns").is_dir()
    client, (run,) = mlflow_runs(tmp_path / "r")
    assert run.info.status == "FINISHED" and run.data.params["loss.type"] == "nonsaturating"
    rid = run.info.run_id
    assert [m.step for m in client.get_metric_history(rid, "loss/d_loss")] == LOSS_STEPS
    assert [m.step for m in client.get_metric_history(rid, "metrics/modes")] == EVAL_STEPS
    assert sorted(f.path for f in client.list_artifacts(rid, "samples")) == [
        "samples/step_0000020.png", "samples/step_0000040.png"]


def test_mlflow_resume_is_a_child_run_and_tracker_uri_names_the_store(tmp_path, tiny, monkeypatch):
    pytest.importorskip("mlflow")
    store = tmp_path / "store"
    cfg = tracked(tiny, "mlflow", tracker_uri=str(store))
    train_interrupted_then_resumed(monkeypatch, cfg, tmp_path / "r")
    assert store.is_dir() and not (tmp_path / "r" / "mlruns").exists()
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store.resolve().as_uri())
    first, second = (client.get_run(r["id"]) for r in json.loads((tmp_path / "r" / "tracker.json").read_text())["runs"])
    assert first.info.status == "KILLED" and second.info.status == "FINISHED"
    assert second.data.tags["mlflow.parentRunId"] == first.info.run_id
    assert second.data.tags["modegan.resumed_from_step"] == "20"
    assert [m.step for m in client.get_metric_history(second.info.run_id, "loss/d_loss")] == [30, 40]


# --- refusals and the batched trainer ------------------------------------------------------------------


@pytest.mark.parametrize("tracker, module", [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb"),
                                             ("mlflow", "mlflow")])
def test_a_missing_extra_is_one_line_before_anything_is_written(tmp_path, tiny, monkeypatch, tracker, module):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ModeganError, match=rf"^train.tracker={tracker} needs .* pip install 'modegan\[{tracker}\]'$"):
        modegan.train(tracked(tiny, tracker), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_tracker_keys_are_checked_and_leave_the_config_hash_alone():
    from modegan.train.run import config_hash

    with pytest.raises(ModeganError, match="train.tracker: 'neptune' is not allowed; allowed: none, tensorboard"):
        build_config(overrides={"train": {"tracker": "neptune"}})
    with pytest.raises(ModeganError, match="train.tracker_uri applies to train.tracker=mlflow only"):
        build_config(overrides={"train": {"tracker": "wandb", "tracker_uri": "x"}})
    with pytest.raises(ModeganError, match="train.log_every: must be a positive integer"):
        build_config(overrides={"train": {"log_every": 0}})
    plain = build_config()
    assert "tracker" not in plain.to_dict()["train"]  # left out at its default: old configs and hashes unchanged
    logged = build_config(overrides={"train": {"tracker": "mlflow", "tracker_uri": "/x", "log_every": 7}})
    assert config_hash(logged) == config_hash(plain)


def test_batched_seeds_log_what_each_seed_would_alone(tmp_path, tiny):
    pytest.importorskip("tensorboard")
    from modegan.train.batched import train_seeds

    cfgs = [tracked(tiny, "tensorboard", seed=s) for s in (0, 1)]
    train_seeds(cfgs, [tmp_path / "b0", tmp_path / "b1"])
    modegan.train(cfgs[1], out=tmp_path / "alone")
    batched, alone = tensorboard_events(tmp_path / "b1"), tensorboard_events(tmp_path / "alone")
    assert [e.step for e in batched.Scalars("loss/d_loss")] == LOSS_STEPS
    for tag in ("loss/d_loss", "loss/g_loss", "metrics/modes"):
        assert [e.value for e in batched.Scalars(tag)] == pytest.approx([e.value for e in alone.Scalars(tag)],
                                                                        rel=1e-4, abs=1e-6)


def test_fit_logs_the_users_networks_through_the_same_tracker(tmp_path):
    pytest.importorskip("tensorboard")
    import torch
    from torch import nn

    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    method = {"preset": "gan", "train": {"tracker": "tensorboard", "log_every": 5, "eval_every": 10,
                                         "eval_samples": 100, "batch_size": 32}}
    modegan.fit(G, D, torch.randn(500, 2), method, out=tmp_path / "f", steps=20, z_dim=2)
    acc = tensorboard_events(tmp_path / "f")
    assert [e.step for e in acc.Scalars("loss/g_loss")] == [5, 10, 15, 20]
    assert [e.step for e in acc.Scalars("train/grad_norm_g")] == [10, 20]


def test_a_tracker_that_cannot_open_is_one_line_and_the_run_says_failed(tmp_path, tiny):
    pytest.importorskip("mlflow")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ModeganError, match=r"^train.tracker=mlflow: cannot open the tracker run \("):
        modegan.train(tracked(tiny, "mlflow", tracker_uri=str(blocker / "store")), out=tmp_path / "r")
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "failed"


def test_every_session_is_listed_when_a_resume_is_interrupted_again(tmp_path, tiny, monkeypatch):
    pytest.importorskip("mlflow")
    cfg, out = tracked(tiny, "mlflow"), tmp_path / "r"
    with monkeypatch.context() as m:
        interrupt_at(m, 35)  # checkpoint at 20
        with pytest.raises(KeyboardInterrupt):
            modegan.train(cfg, out=out)
    with monkeypatch.context() as m:
        interrupt_at(m, 5)  # step 25 of the resume: still before the next checkpoint
        with pytest.raises(KeyboardInterrupt):
            modegan.train(resume=out)
    modegan.train(resume=out)
    client, runs = mlflow_runs(out)
    assert [r.info.status for r in runs] == ["KILLED", "KILLED", "FINISHED"]
    assert [r.data.tags.get("mlflow.parentRunId") for r in runs] == [None, runs[0].info.run_id, runs[0].info.run_id]
    assert [m.step for m in client.get_metric_history(runs[2].info.run_id, "loss/d_loss")] == [30, 40]
