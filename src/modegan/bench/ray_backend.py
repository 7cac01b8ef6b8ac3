"""Send benchmark jobs to a Ray cluster (`--ray ADDRESS`) or a Ray instance started here (`--ray local`).

The jobs are the same `run_job` calls as the local path and write the same run directories, so
results, resume and the report do not depend on where the runs trained. On a real cluster OUT must
be on storage every node sees, and modegan must be installed on every node.
"""

from __future__ import annotations

from collections.abc import Callable

from modegan.errors import ModeganError


def _ray():
    try:
        import ray
    except ImportError:
        raise ModeganError("--ray needs the ray package: pip install 'modegan[ray]'") from None
    return ray


def connect(address: str) -> bool:
    """Connect to the cluster at `address` (or start one here for 'local') before anything is written.
    True when this call initialised Ray (the caller then calls `shutdown`); an unreachable address is one line."""
    if not isinstance(address, str) or not address.strip():
        raise ModeganError("--ray: empty address; give host:port, ray://host:port, auto or local")
    ray = _ray()
    if ray.is_initialized():
        return False
    if address not in ("local", "auto"):
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, ValueError, RuntimeError, its own types
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ModeganError(f"cannot connect to the Ray cluster at {address!r}: {first}") from None
    return True


CONNECT_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """A TCP connection to host:port first: ray.init on an unreachable address waits for minutes."""
    import socket

    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ModeganError(f"--ray: bad address {address!r}; give host:port, ray://host:port, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        raise ModeganError(f"cannot connect to the Ray cluster at {address!r}: {reason}") from None


def shutdown() -> None:
    _ray().shutdown()


TOY_GPU_SHARE = 0.25  # a toy job's share of a GPU: four small MLP batches packed on one GPU


def is_image_job(items: list[tuple[dict, str]]) -> bool:
    """A job of image runs (DCGAN); its items are (config dict, run path) pairs, as `RunSpec.job_item` gives."""
    return any(cfg.get("model", {}).get("arch") == "dcgan" for cfg, _ in items)


def task_options(items: list[tuple[dict, str]], cluster_gpus: float) -> dict:
    """The Ray resources one job asks for: one CPU, and where the cluster has GPUs, one whole GPU for an image
    job and `TOY_GPU_SHARE` of one for a toy job (so several toy jobs share a GPU); no GPU otherwise."""
    if cluster_gpus <= 0:
        return {"num_cpus": 1}
    return {"num_cpus": 1, "num_gpus": 1 if is_image_job(items) else TOY_GPU_SHARE}


def cluster_gpus() -> float:
    """The GPUs of the connected Ray cluster (0 without any)."""
    return float(_ray().cluster_resources().get("GPU", 0))


def run_on_ray(address: str, payload: list[tuple[list, bool]], on_done: Callable[[int, list[dict]], None]) -> None:
    """Run every (items, batch) job as a Ray task with `task_options`'s resources; `on_done(index, results)` as
    each finishes."""
    ray = _ray()
    from modegan.bench.runs import run_job

    started_here = connect(address)
    try:
        task, gpus = ray.remote(run_job), cluster_gpus()
        pending = {task.options(**task_options(items, gpus)).remote(items, batch): i
                   for i, (items, batch) in enumerate(payload)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                on_done(pending.pop(ref), ray.get(ref))
    finally:
        if started_here:
            ray.shutdown()
