"""`modegan bench stacked-mnist`: Stacked MNIST (1000 modes) in the two settings of benchmarks.md §4.

- VEEGAN setting: DCGAN generator and discriminator of equal width, z 100, batch 64, Adam 2e-4 (0.5, 0.999)
  (PacGAN's re-run of VEEGAN's experiment).
- Unrolled setting: the discriminator has 1/4 of the generator's width, z 256, batch 128, G Adam 1e-4,
  D Adam 2e-4, betas (0.5, 0.99) (Metz et al. as re-run by PacGAN).

The setting's optimiser applies to the methods trained with a (non-saturating or minimax) GAN loss,
which is what those papers ran; Wasserstein presets keep their own. Modes and KL use 26,000 samples
and the project's MNIST classifier (`modegan classifier train`), whose accuracy and checksum every
metric records. Outputs, resume and report are those of `bench mog`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from modegan.bench.published import STACKED_UNROLLED, STACKED_VEEGAN
from modegan.bench.results import Row
from modegan.bench.runs import RunSpec
from modegan.bench.suite import BENCH_KEYS, BenchPlan, check_overrides, make_plan, run_planned
from modegan.config import build_config, merge
from modegan.data.idx import DATA_ENV
from modegan.errors import ModeganError, choice_error

STACKED_METHODS = ("gan", "pacgan2", "pacgan3", "pacgan4", "unrolled", "veegan", "diwgan")
DEFAULT_STEPS = 2_000  # far below the papers' 50 epochs (100,000 steps at batch 64): a CPU budget; recorded
DEFAULT_SEEDS = 3

SETTINGS: dict[str, tuple[dict, dict]] = {  # label: (networks and batch, the setting's optimisers)
    STACKED_VEEGAN: (
        {"model": {"z_dim": 100, "g_width": 64, "d_width": 64}, "train": {"batch_size": 64}},
        {"g_optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
         "d_optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}},
    ),
    STACKED_UNROLLED: (
        {"model": {"z_dim": 256, "g_width": 64, "d_width": 16}, "train": {"batch_size": 128}},
        {"g_optim": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.99]},
         "d_optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.99]}},
    ),
}
SHORT = {"veegan": STACKED_VEEGAN, "unrolled": STACKED_UNROLLED}


def setting_overrides(label: str, method: str) -> dict:
    nets, optim = SETTINGS[label]
    gan_loss = build_config(preset=method).loss.type in ("nonsaturating", "minimax")
    return merge({"data": {"name": "stacked-mnist"}}, merge(nets, optim) if gan_loss else nets)


def plan_stacked(out: str | Path, *, methods: list[str] | None = None, settings: list[str] | None = None,
                 seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, eval_every: int | None = None,
                 data_dir: str | None = None, classifier: str | None = None,
                 overrides: dict | None = None, device: str | None = None, first_seed: int = 0) -> BenchPlan:
    """Check the names, the data directory and the classifier, then resolve every run's config."""
    from modegan.metrics.classifier import default_classifier_path, load_classifier

    names = list(SHORT if settings is None else settings)
    if not names:
        raise choice_error("setting", "", SHORT)
    for s in names:
        if s not in SHORT:
            raise choice_error("setting", s, SHORT)
    overrides = check_overrides(overrides, {**BENCH_KEYS, "data.name": "nothing (always stacked-mnist)",
                                            "data.dir": "--data-dir", "train.classifier": "--classifier"})
    clf = Path(classifier).expanduser() if classifier else default_classifier_path()
    load_classifier(clf)  # the shipped one unless named; a missing, changed or foreign file fails here
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise ModeganError(f"--data-dir {data_dir} does not exist or is not a directory")
    if data_dir is None and not os.environ.get(DATA_ENV):
        raise ModeganError(f"no data directory: pass --data-dir DIR or set ${DATA_ENV}")
    location = {"train": {"classifier": str(clf)}, **({"data": {"dir": data_dir}} if data_dir else {})}
    methods = list(STACKED_METHODS if methods is None else methods)
    groups = {SHORT[s]: (lambda m, label=SHORT[s]: setting_overrides(label, m)) for s in names}
    return make_plan(
        "stacked-mnist", "Stacked MNIST benchmark", out, methods=methods, groups=groups, seeds=seeds, steps=steps,
        eval_every=eval_every or max(1, steps // 4), overrides=merge(overrides, location), device=device,
        first_seed=first_seed,
        setting="DCGAN networks; VEEGAN setting: equal widths 64, z 100, batch 64, Adam 2e-4 (0.5, 0.999); "
        "Unrolled setting: D width 16 = G width / 4, z 256, batch 128, G Adam 1e-4, D Adam 2e-4, (0.5, 0.99); "
        "setting optimisers for GAN-loss methods, presets' own for Wasserstein ones; modes and kl on 26,000 "
        "samples with the project's MNIST classifier (benchmarks.md §4).")


def run_stacked(out: str | Path, *, workers: int = 1, batch: bool = True, ray: str | None = None,
                on_done: Callable[[list[RunSpec], list[dict]], None] | None = None, **plan_kw) -> list[Row]:
    """`plan_stacked` then `run_planned`: the Python form of `modegan bench stacked-mnist`."""
    return run_planned(plan_stacked(out, **plan_kw), workers=workers, batch=batch, ray=ray, on_done=on_done)
