"""How long a benchmark's pending runs will take: before it starts, from measured step rates; while it runs,
from the seconds per step of the runs it has finished.

The prior is `STEP_RATES`, generator steps per second per seed measured by `benchmarks/throughput.py` on the
2-core development machine (benchmarks/results/throughput_cpu.csv: `single_steps_s` for a run alone,
`batched_steps_s_seed` for seeds trained as one batch), plus `EVAL_S` seconds per evaluation and seed
(measured there too, roughly). It leaves out set-up and the report. The rates are training
steps of one 1-thread process: on a loaded or faster machine the prior is off, and the measured times
of the first finished runs replace it.
"""

from __future__ import annotations

import time

from modegan.bench.runs import RunSpec, jobs, state
from modegan.train.rundir import RunDir

# preset: (alone, per seed in a batch), generator steps/s (throughput_cpu.csv, --batch 256, S=10)
STEP_RATES = {
    "gan": (269.7, 364.5), "wgan": (98.7, 126.1), "wgan-gp": (50.5, 69.1), "wgan-gp-toy": (59.4, 77.6),
    "wgan-gp-paper": (57.7, 77.4), "iwgan": (257.8, 373.7), "iwgan-gp": (50.0, 72.1), "gan-hard": (278.0, 381.6),
    "topk": (269.8, 372.7), "diwgan": (210.4, 252.3), "unrolled": (37.7, 52.4), "veegan": (198.5, 287.7),
    "pacgan2": (219.7, 259.7), "pacgan3": (169.6, 212.9), "pacgan4": (129.2, 165.5),
}
FALLBACK_RATE = 50.0  # a toy preset the table lacks: the slow end of the toy presets
# Image data (README, Speed: Images): a DCGAN step at Stacked-MNIST shapes took 160 ms on 2 threads, and an
# evaluation of 26,000 Stacked-MNIST samples 35 s, both on a quiet machine.
IMAGE_RATE, IMAGE_EVAL_S = 6.25, 35.0
# Seconds per evaluation and seed: toy metrics on 2,500 samples, the critic's input gradients, one scatter PNG.
# Measured on the 2-core machine while it ran other work: 1.3 s (gan demo, 2 seeds batched, 1 worker) to
# 2.9 s (gan and wgan alone, 2 workers), beyond the training steps' time.
EVAL_S = 2.0


def steps_left(spec: RunSpec) -> int:
    """Generator steps this run still has to train: all of them, or those after its checkpoint."""
    if state(spec) == "done":
        return 0
    if state(spec) == "resume":
        summary = RunDir(spec.path).read_summary() or {}
        return max(0, spec.cfg.train.steps - int(summary.get("step", 0)))
    return spec.cfg.train.steps


def prior_seconds_per_step(spec: RunSpec, batched: bool) -> float:
    """Seconds per generator step and seed from the measured rates (a batch's per-seed rate when batched),
    with this run's share of an evaluation."""
    if _image(spec.cfg):
        return 1.0 / IMAGE_RATE + IMAGE_EVAL_S / spec.cfg.train.eval_every
    alone, in_batch = STEP_RATES.get(spec.method, (FALLBACK_RATE, FALLBACK_RATE))
    return 1.0 / (in_batch if batched else alone) + EVAL_S / spec.cfg.train.eval_every


def _image(cfg) -> bool:
    from modegan.data import is_image_data

    return is_image_data(cfg.data.name) or cfg.data.image_size is not None or cfg.model.arch == "dcgan"


def schedule(durations: list[float], workers: int) -> float:
    """Wall seconds of jobs handed in order to the first free of `workers` (what the process pool does)."""
    free = [0.0] * max(1, workers)
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


class Eta:
    """Seconds left of a benchmark's pending jobs, corrected by each finished job's measured seconds/step."""

    def __init__(self, specs: list[RunSpec], workers: int, batch: bool = True):
        self.workers = workers
        self.pending = {tuple(str(s.path) for s in job): [(s, steps_left(s)) for s in job]
                        for job in jobs(specs, batch)}
        self.measured: dict[str, list[float]] = {}  # method -> seconds per step and seed of its finished runs
        self._left, self._at = self.seconds_left(), time.monotonic()

    def seconds_per_step(self, spec: RunSpec, batched: bool) -> float:
        """This bench's measured seconds per step and seed of the method, else the mean of all it measured,
        else the prior (training steps and this run's share of an evaluation)."""
        if self.measured.get(spec.method):
            return sum(self.measured[spec.method]) / len(self.measured[spec.method])
        every = [v for vs in self.measured.values() for v in vs]
        if every:
            return sum(every) / len(every)
        return prior_seconds_per_step(spec, batched)

    def job_seconds(self, job: list[tuple[RunSpec, int]]) -> float:
        batched = len(job) > 1
        return sum(self.seconds_per_step(s, batched) * left for s, left in job)

    def seconds_left(self) -> float:
        return schedule([self.job_seconds(j) for j in self.pending.values()], self.workers)

    def remaining(self) -> float:
        """Seconds left now: the last estimate, counted down since it was made."""
        return max(0.0, self._left - (time.monotonic() - self._at))

    def finished(self, job: list[RunSpec], results: list[dict]) -> None:
        """Record a finished job's seconds per step and seed (a batch's elapsed_s is the whole batch's)."""
        trained = self.pending.pop(tuple(str(s.path) for s in job), [])
        per_run = [v for s, left in trained if left and (v := _summary_rate(s)) is not None]
        if per_run:
            batch_wall = len(per_run) > 1 and max(per_run) - min(per_run) <= 0.05 * max(per_run)
            share = len(per_run) if batch_wall else 1
            self.measured.setdefault(job[0].method, []).extend(v / share for v in per_run)
        self._left, self._at = self.seconds_left(), time.monotonic()


def _summary_rate(spec: RunSpec) -> float | None:
    """elapsed_s / step of a finished run's summary.json; None when it did not finish."""
    try:
        summary = RunDir(spec.path).read_summary() or {}
    except Exception:  # noqa: BLE001 - an unreadable summary only loses one measurement
        return None
    step, elapsed = summary.get("step"), summary.get("elapsed_s")
    if summary.get("status") != "finished" or not isinstance(elapsed, (int, float)) or not step:
        return None
    return elapsed / step


def estimate_seconds(specs: list[RunSpec], workers: int, batch: bool = True) -> float:
    """The plan's expected wall seconds before anything trains: measured step rates, evaluations, workers."""
    return Eta(specs, workers, batch).seconds_left()


def duration_text(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
