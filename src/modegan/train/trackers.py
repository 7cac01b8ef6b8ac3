"""Experiment trackers: `train.tracker` none | tensorboard | wandb | mlflow.

One small seam: a `Tracker` has `log_scalars(values, step)`, `log_image(tag, png, step)` and `close()`, one
class a backend, and the run's `Recorder` is the only caller (`train`, the batched `train_seeds`, torchrun's
rank 0 and `modegan.fit` all record through it). What a run logs:

- ``loss/<name>``: the step losses (d_loss, g_loss, gp, ...) averaged over the last `train.log_every` steps;
- at each evaluation, the record's scalars: ``train/<name>`` (losses since the last evaluation, gradient
  norms, elapsed_s), ``d_input_grad/<where>_<stat>``, ``metrics/<name>`` and ``metrics_ema/<name>``;
- at each evaluation, ``samples``: the PNG the run writes to samples/ (a toy scatter or an image grid;
  none with train.plots=false).

Everything stays on this machine by default. TensorBoard writes event files to RUN/tensorboard. Weights &
Biases runs offline (mode offline, error reporting off, no console capture or system stats) in RUN/wandb
(`wandb sync RUN/wandb/offline-run-*` uploads it later, if you choose to). MLflow logs to a file store at
RUN/mlruns (`train.tracker_uri` names another store: a directory, a ``sqlite:///`` database, a tracking
server), with MLflow's own telemetry switched off.

Resume: TensorBoard continues in the same directory with ``purge_step`` just past the checkpoint's step, so
TensorBoard drops what the interrupted session logged past it and the curves are continuous. Weights &
Biases and MLflow cannot take back logged points, so a resumed session is a new tracker run, named
``<run> (resumed at step N)``, grouped with the first (wandb ``group``; MLflow ``mlflow.parentRunId`` and
the tag ``modegan.resumed_from_step``); RUN/tracker.json lists the tracker runs of the directory.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import time
from pathlib import Path
from typing import Protocol

from modegan.errors import ModeganError

TRACKERS = ("none", "tensorboard", "wandb", "mlflow")
EXTRAS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # backend: the pip extra
STATE = "tracker.json"
DIRS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlruns"}  # where each writes by default


class Tracker(Protocol):
    def log_scalars(self, values: dict[str, float], step: int) -> None: ...

    def log_image(self, tag: str, png: Path, step: int) -> None: ...

    def close(self, status: str = "finished") -> None:
        """End the tracker run; `status` is the run's: finished, diverged, failed or interrupted."""


def tracker_name(tc) -> str:
    """The backend a train config asks for: train.tracker, or tensorboard for the older train.tensorboard=true."""
    return "tensorboard" if tc.tensorboard else tc.tracker


def _missing(name: str) -> ModeganError:
    return ModeganError(f"train.tracker={name} needs the {EXTRAS[name]} package: pip install 'modegan[{name}]'")


def check_tracker(tc) -> None:
    """Import the backend's package, so a missing extra is one line before anything is written."""
    name = tracker_name(tc)
    if name == "none":
        return
    try:
        if name == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        elif name == "wandb":
            import wandb  # noqa: F401
        else:
            _mlflow()
    except ImportError:
        if name == "tensorboard" and tc.tensorboard:
            raise ModeganError("train.tensorboard needs the tensorboard package: "
                               "pip install 'modegan[tensorboard]'") from None
        raise _missing(name) from None


def open_tracker(run_path: Path, cfg, start: int) -> Tracker | None:
    """The run's tracker (None for train.tracker=none), opened for a session starting at step `start`."""
    name = tracker_name(cfg.train)
    if name == "none":
        return None
    check_tracker(cfg.train)
    try:
        return BACKENDS[name](Path(run_path), cfg, start)
    except ModeganError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. an MLflow store that cannot be opened: one line, not a traceback
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise ModeganError(f"train.tracker={name}: cannot open the tracker run ({type(e).__name__}: {first})") from None


def scalars(record: dict) -> dict[str, float]:
    """An evaluation record's numbers under the tags trackers show them by (None values left out)."""
    out = {f"train/{k}": float(v) for k, v in record.items() if isinstance(v, (int, float)) and k != "step"
           and not isinstance(v, bool)}
    for where, stats in record.get("d_input_grad", {}).items():
        out.update({f"d_input_grad/{where}_{stat}": float(v) for stat, v in stats.items()})
    for section in ("metrics", "metrics_ema"):
        out.update({f"{section}/{k}": float(v) for k, v in record.get(section, {}).items() if v is not None})
    return out


def run_name(run_path: Path, start: int) -> str:
    name = Path(run_path).resolve().name
    return name if start == 0 else f"{name} (resumed at step {start})"


class TrackerState:
    """RUN/tracker.json: the backend and every tracker run this directory has logged to, oldest first (one a
    training session: the first, then one a resume; `--overwrite` removes the file with the run)."""

    def __init__(self, run_path: Path, backend: str):
        self.path, self.backend = Path(run_path) / STATE, backend
        self.runs: list[dict] = []
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict) and data.get("backend") == backend and isinstance(data.get("runs"), list):
                self.runs = data["runs"]

    def first(self) -> dict | None:
        return self.runs[0] if self.runs else None

    def add(self, run_id: str, start: int, **more) -> None:
        from modegan.train.files import atomic_write

        self.runs.append({"id": run_id, "from_step": start, **more})
        atomic_write(self.path, json.dumps({"backend": self.backend, "runs": self.runs}, indent=1).encode())


def _png_array(png: Path):
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        return np.asarray(im.convert("RGB"))


class TensorBoardTracker:
    def __init__(self, run_path: Path, cfg, start: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_path / DIRS["tensorboard"]), purge_step=start + 1)

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)

    def log_image(self, tag: str, png: Path, step: int) -> None:
        self.writer.add_image(tag, _png_array(png), step, dataformats="HWC")

    def close(self, status: str = "finished") -> None:
        self.writer.close()


OFFLINE_WANDB = {"WANDB_MODE": "offline", "WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true"}
WANDB_EXIT = {"finished": 0, "interrupted": 255}  # otherwise 1 (diverged, failed)


class WandbTracker:
    """An offline Weights & Biases run in RUN/wandb; nothing is sent anywhere."""

    def __init__(self, run_path: Path, cfg, start: int):
        import wandb

        self.wandb = wandb
        state = TrackerState(run_path, "wandb")
        first = state.first()  # an earlier session of this directory, if any
        run_id = secrets.token_hex(4)
        settings = wandb.Settings(mode="offline", console="off", x_disable_stats=True, x_disable_meta=True,
                                  x_disable_machine_info=True, x_save_requirements=False, disable_git=True,
                                  save_code=False)
        saved = {k: os.environ.get(k) for k in OFFLINE_WANDB}
        os.environ.update(OFFLINE_WANDB)  # offline whatever the environment says: this tracker's contract
        try:
            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "modegan"), dir=str(run_path), id=run_id,
                                  name=run_name(run_path, start), group=first["id"] if first else run_id,
                                  config={**cfg.to_dict(), "resumed_from_step": start}, settings=settings,
                                  reinit="create_new")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        offline = Path(self.run.dir).parent.resolve()  # wandb writes RUN/wandb/offline-run-*/files
        state.add(self.run.id, start, dir=str(offline.relative_to(Path(run_path).resolve())))

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def log_image(self, tag: str, png: Path, step: int) -> None:
        self.run.log({tag: self.wandb.Image(str(png))}, step=step)

    def close(self, status: str = "finished") -> None:
        log = Path(self.run.dir).parent / f"run-{self.run.id}.wandb"
        self.run.finish(exit_code=WANDB_EXIT.get(status, 1))
        # finish() returns once wandb's service has the exit record; the service writes the file after. Wait
        # (at most WANDB_FLUSH_S) until the file ends with it, so what the run logged is on disk when train returns.
        deadline = time.monotonic() + WANDB_FLUSH_S
        while time.monotonic() < deadline:
            records = wandb_records(log)
            if records and records[-1].WhichOneof("record_type") == "exit":
                return
            time.sleep(0.05)


WANDB_FLUSH_S = 60.0  # a bound, not a delay: the file usually ends with the exit record within milliseconds
WANDB_BLOCK, WANDB_HEADER = 32768, 7


def wandb_records(path: Path) -> list:
    """The records of an offline W&B run's transaction log (RUN/wandb/offline-run-*/run-ID.wandb), parsed with
    wandb's protobuf classes: a 7-byte file header (":W&B", magic, version), then LevelDB-style 32 KiB blocks
    of records with 7-byte headers (CRC32, length, piece type: 1 full, 2 first, 3 middle, 4 last). A record
    cut short (the service still writing) ends the list."""
    from wandb.proto import wandb_internal_pb2

    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    if data[:4] != b":W&B":
        return []
    out, pos, buf = [], WANDB_HEADER, b""
    while pos + WANDB_HEADER <= len(data):
        left = WANDB_BLOCK - pos % WANDB_BLOCK
        if left < WANDB_HEADER:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, n, piece = struct.unpack("<IHB", data[pos:pos + WANDB_HEADER])
        if piece == 0 or pos + WANDB_HEADER + n > len(data):
            break
        buf, pos = buf + data[pos + WANDB_HEADER:pos + WANDB_HEADER + n], pos + WANDB_HEADER + n
        if piece in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            out.append(record)
            buf = b""
    return out


def _mlflow():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read when mlflow is imported
    import mlflow

    return mlflow


def mlflow_uri(run_path: Path, uri: str | None) -> str:
    """train.tracker_uri, or a file store at RUN/mlruns; a plain path becomes a file: URI."""
    if uri is None:
        return (Path(run_path) / DIRS["mlflow"]).resolve().as_uri()
    if "://" in uri or uri.startswith("file:"):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


class MlflowTracker:
    """An MLflow run (experiment $MLFLOW_EXPERIMENT_NAME or modegan) through `MlflowClient`, no global state."""

    def __init__(self, run_path: Path, cfg, start: int):
        mlflow = _mlflow()
        from mlflow.entities import Metric, Param

        self.Metric = Metric
        uri = mlflow_uri(run_path, cfg.train.tracker_uri)
        if uri.startswith("file:"):
            # MLflow 3 keeps its file store (maintenance mode) behind this switch; it is what a local run wants
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = mlflow.MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "modegan")
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(name)
        state = TrackerState(run_path, "mlflow")
        first = state.first()  # an earlier session of this directory, if any
        tags = {"modegan.run_dir": str(Path(run_path).resolve()), "modegan.resumed_from_step": str(start)}
        if first is not None:
            tags["mlflow.parentRunId"] = first["id"]
        self.run_id = self.client.create_run(exp_id, run_name=run_name(run_path, start), tags=tags).info.run_id
        state.add(self.run_id, start, uri=uri)
        from modegan.config import flatten

        params = [Param(k, str(v)[:6000]) for k, v in flatten(cfg.to_dict()).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        import time

        now = int(time.time() * 1000)
        metrics = [self.Metric(k, float(v), now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def log_image(self, tag: str, png: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(png), artifact_path=tag)

    def close(self, status: str = "finished") -> None:
        self.client.set_terminated(self.run_id, status=MLFLOW_STATUS.get(status, "FAILED"))


MLFLOW_STATUS = {"finished": "FINISHED", "interrupted": "KILLED"}  # otherwise FAILED (diverged, failed)
BACKENDS = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MlflowTracker}
