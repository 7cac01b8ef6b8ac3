"""Train S seeds of one configuration as one batch of independent models.

The benchmark networks are so small that a CPU step is mostly per-op overhead, so S seeds trained one
after another pay it S times. Here the S networks are stacked (`nets.batched`) and one step updates
all of them, while every seed stays exactly its own run:

- weights: the stacked nets are built from S `build_parts` results, so they start from each seed's init;
- optimisers: Adam, RMSProp and SGD (with weight decay) are elementwise, so one optimiser over the
  stacked parameters is S per-seed optimisers;
- randomness: each seed keeps its own training generator (seed + 1) and draws z, batch indices and the
  penalty's ε in the order and shapes of a separate run; the draws are then stacked;
- losses: a per-seed mean (or weighted mean) over the batch, summed over seeds, so each seed's gradient
  is its separate-run gradient; the critic's outputs for one seed depend only on its own inputs, so the
  gradient penalty's input gradients are per seed too; weight clipping is elementwise;
- EMA and schedules: the moving average of G (train.ema) is a stacked copy of G updated by the same
  elementwise lerp, so each seed's slice is its own average; a schedule's rate depends on the step alone,
  which every seed shares, so one rate for the stacked optimiser is every seed's (`steps.after_generator_step`);
- the update schemes: the functions of `steps` run on the stacked parts (same field names), so Unrolled
  GAN's K differentiable D steps run on the stacked D with its stacked optimiser state (per seed, since the
  rules are elementwise), VEEGAN's F and joint D are stacked like G and D, and DIWGAN keeps each seed's own
  state and exact pairing (`SeedwiseDiwgan`), its term backpropagated into the stacked G.

Each seed's run directory is written by the same `Recorder` as `train`, with unstacked checkpoints that
the unbatched `train(resume=...)` continues. A seed that diverges is written off like `train` does and
the others keep training.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from modegan.config import RunConfig, config_from_any
from modegan.data import ToyDataset
from modegan.errors import ModeganError
from modegan.losses.adversarial import AdversarialLoss
from modegan.losses.constraints import interpolation_eps, penalty_at
from modegan.nets.batched import BatchedGenerator, BatchedReconstructor, stack_nets
from modegan.train.checkpoint import read_checkpoint
from modegan.train.files import run_lock
from modegan.train.parts import Parts, build_optimizer, build_weighting
from modegan.train.run import (
    LossSums,
    ProgressBar,
    Recorder,
    TrainingDiverged,
    check_config,
    eval_due,
    open_parts,
    restoring_torch_threads,
    resume_placement,
    run_dataset,
    short_metrics,
    train,
    training_data,
)
from modegan.train.rundir import RunDir
from modegan.train.schedules import set_rates_
from modegan.train.steps import (
    after_generator_step,
    batch_indices,
    critic_loss,
    diwgan_head_start,
    generator_step,
    update_critic,
    veegan_discriminator_step,
)
from modegan.weighting import DualImportanceLoss, SampleWeighting
from modegan.weighting.diwgan import DIAGNOSTICS, PendingPairing, pairing_threads


def batch_unsupported(cfg: RunConfig) -> str | None:
    """None when this config can train as a batch of seeds; otherwise a one-line reason."""
    m = cfg.model
    if m.arch != "mlp":
        return f"model.arch {m.arch}: image networks (BatchNorm, convolutions) are not stacked"
    if m.g_norm != "none" or m.d_norm != "none":
        return "model.g_norm/d_norm: normalisation layers are not stacked"
    if m.spectral_norm:
        return "model.spectral_norm: per-seed power iterations are not stacked"
    if "distance" in (*cfg.weighting.gen, *cfg.weighting.disc_fake):
        return "weighting distance: per-seed nearest-real distances are not stacked"
    if m.conditioning != "none":
        return f"model.conditioning={m.conditioning}: label embeddings and labelled batches are not stacked"
    return registered_unsupported(cfg)


def registered_unsupported(cfg: RunConfig) -> str | None:
    """Registered constraints and weightings are written for one run's tensors, not stacked seeds."""
    from modegan.weighting.weights import REGISTERED

    if cfg.loss.constraints:
        return "loss.constraints: registered constraints are not stacked"
    w = cfg.weighting
    if any(n in REGISTERED for n in (*w.gen, *w.disc_fake, *w.disc_real)):
        return "a registered weighting is not stacked"
    return None


# --- stacked parts and their updates --------------------------------------------------------------------


def stack_optimizer_states(states: list[dict]) -> dict:
    """S optimiser state dicts of unstacked networks -> one for the stacked parameters (leading seed axis)."""
    out = copy.deepcopy(states[0])
    for j, st in out["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor) and v.dim() > 0:
                st[k] = torch.stack([s["state"][j][k] for s in states])
    return out  # scalar entries (Adam's step count) are the same for every seed


def unstack_optimizer_state(state: dict, i: int) -> dict:
    """Seed i's optimiser state dict, as an optimiser over the unstacked network holds it."""
    return {
        "state": {j: {k: v[i].clone() if isinstance(v, Tensor) and v.dim() > 0 else copy.deepcopy(v)
                      for k, v in st.items()} for j, st in state["state"].items()},
        "param_groups": copy.deepcopy(state["param_groups"]),
    }


class SeedwiseDiwgan:
    """DIWGAN for stacked seeds: each seed's own `DualImportanceLoss` (encoder, targets, KDE history, exact
    pairing) on its slice of the stacked batch. It answers `begin` and the call like one of them, so
    `steps.generator_step` backpropagates the sum of the seeds' α·D_a into the stacked G unchanged."""

    def __init__(self, losses: list[DualImportanceLoss]):
        self.losses = losses
        self.threads = pairing_threads(min(len(losses), os.cpu_count() or 1))

    def begin(self, fake: Tensor) -> list[PendingPairing]:
        """Every seed's pairing started on a pool of up to one thread per core (off the GIL; each touches only
        its own seed's state, so the order they run in changes nothing)."""
        return [d.begin(x, threads=self.threads) for d, x in zip(self.losses, fake, strict=True)]

    def __call__(self, fake: Tensor, pending: list[PendingPairing] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        pending = pending or [None] * len(self.losses)
        done = [_seed_term(d, x, q) for d, x, q in zip(self.losses, fake, pending, strict=True)]
        extra = torch.stack([e for e, _ in done]).sum()
        return extra, {k: torch.stack([diag[k] for _, diag in done]) for k in done[0][1]}


def _seed_term(d: DualImportanceLoss, x: Tensor, pending: PendingPairing | None) -> tuple[Tensor, dict[str, Tensor]]:
    """One seed's α·D_a; a seed whose batch is not finite (it diverged) gets 0 and NaN diagnostics, so that
    the step finishes and the trainer writes that seed off (its losses are NaN too) while the others go on."""
    try:
        return d(x, pending)
    except ModeganError:
        if bool(torch.isfinite(x).all()):
            raise
        nan = torch.full((), math.nan, dtype=torch.float64, device=x.device)
        zero = torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)  # off G's graph: no gradient
        return zero, {"d_a": nan.to(x.dtype), **dict.fromkeys(DIAGNOSTICS, nan)}


OPTIM_CONFIG = {"G": "g_optim", "D": "d_optim", "F": "g_optim"}  # as build_parts: F takes the generator's settings


@dataclass
class BatchedParts:
    """`Parts` for S stacked seeds; the field names match, so the functions of `steps` serve both."""

    G: BatchedGenerator
    D: nn.Module  # a BatchedDiscriminator, or VEEGAN's BatchedJointDiscriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    loss: AdversarialLoss
    cfg: RunConfig
    rngs: list[torch.Generator]  # each seed's own training generator (the one its Parts holds)
    weighting: SampleWeighting | None = None
    diwgan: SeedwiseDiwgan | None = None
    F: BatchedReconstructor | None = None
    f_opt: torch.optim.Optimizer | None = None
    step: int = 0
    gp_weights: Tensor | None = None  # (S,): each seed's loss.gp_weight
    G_ema: BatchedGenerator | None = None  # train.ema > 0: the seeds' moving averages of G, stacked
    terms: tuple = ()  # `Parts.terms`: none here (conditional configs, AC-GAN's term, are not stacked)

    @property
    def rng(self) -> list[torch.Generator]:
        """What the stacked `G.sample_z` takes (the seeds' generators), under the name `steps` reads."""
        return self.rngs

    def nets(self) -> dict[str, nn.Module]:
        return {k: m for k, m in {"G": self.G, "D": self.D, "F": self.F}.items() if m is not None}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: o for k, o in {"G": self.g_opt, "D": self.d_opt, "F": self.f_opt}.items() if o is not None}

    @classmethod
    def stack(cls, seeds: list[Parts]) -> BatchedParts:
        cfg, first = seeds[0].cfg, seeds[0]
        nets = {k: stack_nets([p.modules()[k] for p in seeds]) for k in first.optimizers()}
        opts = {k: build_optimizer(net.parameters(), getattr(cfg, OPTIM_CONFIG[k])) for k, net in nets.items()}
        for k, opt in opts.items():
            opt.load_state_dict(stack_optimizer_states([p.optimizers()[k].state_dict() for p in seeds]))
        diwgan = SeedwiseDiwgan([p.diwgan for p in seeds]) if first.diwgan is not None else None
        gp_weights = _per_seed(nets["D"], [p.cfg.loss.gp_weight for p in seeds])
        G_ema = None
        if first.G_ema is not None:
            G_ema = stack_nets([p.G_ema for p in seeds])
            G_ema.requires_grad_(False)
        out = cls(G=nets["G"], D=nets["D"], F=nets.get("F"), g_opt=opts["G"], d_opt=opts["D"], f_opt=opts.get("F"),
                  loss=first.loss, cfg=cfg, rngs=[p.rng for p in seeds], weighting=build_weighting(cfg),
                  diwgan=diwgan, step=first.step, gp_weights=gp_weights, G_ema=G_ema)
        set_rates_(out)  # the schedules' rates at this step, as `restore` sets them on each seed's optimisers
        return out

    def unstack_into(self, i: int, p: Parts) -> None:
        """Seed i's networks, gradients, optimiser states and step into its unstacked Parts (its DIWGAN state
        is its own object throughout)."""
        mine, theirs = self.optimizers(), p.optimizers()
        for k, net in self.nets().items():
            net.unstack_into(i, p.modules()[k])
            theirs[k].load_state_dict(unstack_optimizer_state(mine[k].state_dict(), i))
        if self.G_ema is not None:
            self.G_ema.unstack_into(i, p.G_ema)
        p.step = self.step


def _per_seed(net: nn.Module, values: list[float]) -> Tensor:
    """One value a seed, as a tensor beside the network's parameters."""
    q = next(net.parameters())
    return torch.tensor(values, dtype=q.dtype, device=q.device)


def batched_discriminator_step(p: BatchedParts, real: Tensor, real_weights: Tensor | None = None) -> dict:
    """`steps.discriminator_step` for stacked seeds: real (S, B, d); the losses come back per seed."""
    if p.F is not None:
        return veegan_discriminator_step(p, real, p.G.sample_z(real.shape[1], p.rng))
    cfg = p.cfg.loss
    with torch.no_grad():
        fake = p.G(p.G.sample_z(real.shape[1], p.rng))
    loss = critic_loss(p, real, fake, real_weights)  # (S,): one loss per seed
    out = {"d_loss": loss.detach()}
    if cfg.gp_weight > 0:
        group = p.cfg.scheme.pack
        eps = torch.stack([interpolation_eps(real[0], g, group) for g in p.rngs])
        gp = penalty_at(p.D, real, fake, eps, center=cfg.gp_center, group=group, stacked=True).mean(-1)
        loss = loss + p.gp_weights * gp
        out["gp"] = gp.detach()
    update_critic(p, loss.sum())
    return out


def batched_train_step(p: BatchedParts, train: Tensor, batch_size: int, weights: Tensor | None = None) -> dict:
    """`steps.train_step` for stacked seeds; every seed draws from its own generator in the same order."""
    batch_size *= p.cfg.scheme.pack
    early = diwgan_head_start(p, batch_size)
    for _ in range(p.cfg.loss.n_critic):
        idx = torch.stack([batch_indices(train.shape[0], batch_size, g) for g in p.rngs])
        real = train[idx]
        out = batched_discriminator_step(p, real, None if weights is None else weights[idx])
    out.update(generator_step(p, batch_size, real, early))
    after_generator_step(p)  # the step count, the EMA of G and the schedules' rates, as one run's
    return out


# --- the loop ---------------------------------------------------------------------------------------------


@dataclass
class _Seed:
    index: int  # position in the caller's list
    cfg: RunConfig
    run: RunDir
    state: dict | None  # the checkpoint it resumes from; None for a new run
    parts: Parts | None = None
    rec: Recorder | None = None
    fresh: bool = False  # a run directory that never wrote a checkpoint: started again in place


PER_SEED_KEYS = ("train.seed", "loss.gp_weight", "diwgan.alpha")
"""What the configs of one batch may differ in: scalars the stacked step applies per seed (the penalty weight
as a per-seed factor, DIWGAN's α in each seed's own loss), so a sweep over them batches like seeds do."""


def _without(cfg: RunConfig, keys: tuple[str, ...]) -> dict:
    """The config as a dict with the given keys blanked, to compare configs that may differ only there."""
    d = cfg.to_dict()
    for key in keys:
        section, name = key.split(".")
        d[section] = {**d[section], name: None}
    d["train"] = {**d["train"], "device": None}  # where a run trains is not what it is
    return d


def _plan(seed: _Seed, overwrite: bool) -> dict | None:
    """The finished summary of a seed with nothing left to do; else None, with `seed.state` set to resume."""
    run, cfg = seed.run, seed.cfg
    if overwrite or not run.has_run():
        return None
    if _without(run.read_config(), ("train.steps",)) != _without(cfg, ("train.steps",)):
        raise ModeganError(f"{run.path} already holds a run of another config; choose another output "
                           "directory (or pass overwrite=True)")
    run.remove_stale_tmp()
    if run.never_checkpointed():
        seed.fresh = True
        return None
    summary = run.read_summary()
    if summary is not None and summary.get("status") == "finished" and summary.get("step") == cfg.train.steps:
        return summary
    seed.state = read_checkpoint(run.checkpoint)
    if seed.state["step"] > cfg.train.steps:
        raise ModeganError(f"{run.checkpoint} is at step {seed.state['step']}, past train.steps {cfg.train.steps}")
    return None


def _one_by_one(seed: _Seed, overwrite: bool) -> dict:
    """The unbatched fallback: `train` (resuming where there is a checkpoint); a divergence is its summary."""
    try:
        if seed.state is not None:
            return train(resume=seed.run.path, steps=seed.cfg.train.steps)
        return train(seed.cfg, out=seed.run.path, overwrite=overwrite or seed.fresh)
    except TrainingDiverged:
        return seed.run.read_summary()


@restoring_torch_threads
def train_seeds(configs: list[RunConfig], outs: list[str | Path], *, overwrite: bool = False,
                progress: bool = False) -> list[dict]:
    """Train configs that differ only in train.seed as one batch; return one summary per seed, exactly what
    `train()` returns and writes (a diverged seed's summary has status 'diverged'). They may also differ in
    the other `PER_SEED_KEYS` (a sweep over loss.gp_weight or diwgan.alpha batches too).

    Seeds whose run directories hold checkpoints continue from them (batched with the seeds at the same
    step); finished seeds are skipped. A config that cannot batch (`batch_unsupported`) trains seed by seed.
    Every seed's run directory is locked (`files.run_lock`) for the whole call.
    """
    if len(configs) != len(outs):
        raise ModeganError(f"train_seeds: {len(configs)} configs but {len(outs)} output directories")
    cfgs = [config_from_any(c) for c in configs]
    if len({Path(o).resolve() for o in outs}) != len(outs):
        raise ModeganError("train_seeds: two seeds share an output directory")
    if any(_without(c, PER_SEED_KEYS) != _without(cfgs[0], PER_SEED_KEYS) for c in cfgs):
        raise ModeganError(f"train_seeds: the configs must differ only in {', '.join(PER_SEED_KEYS)}")
    if len({c.loss.gp_weight > 0 for c in cfgs}) > 1:
        raise ModeganError("train_seeds: loss.gp_weight must be > 0 for every config or for none (a run without "
                           "the penalty draws no interpolation factors)")
    if not cfgs:
        return []
    check_config(cfgs[0])
    with ExitStack() as locks:
        for o in outs:
            locks.enter_context(run_lock(Path(o)))
        return _train_seeds(cfgs, outs, overwrite, progress)


def _train_seeds(cfgs: list[RunConfig], outs: list[str | Path], overwrite: bool, progress: bool) -> list[dict]:
    seeds = [_Seed(i, c, RunDir(o), None) for i, (c, o) in enumerate(zip(cfgs, outs, strict=True))]
    results = {s.index: summary for s in seeds if (summary := _plan(s, overwrite)) is not None}
    todo = [s for s in seeds if s.index not in results]
    reason = batch_unsupported(cfgs[0])
    if reason is not None and todo:
        warnings.warn(f"train_seeds: {reason}; training the {len(todo)} seeds one after another", stacklevel=4)
        results.update({s.index: _one_by_one(s, overwrite) for s in todo})
    elif todo:
        dataset = run_dataset(cfgs[0])
        starts = sorted({0 if s.state is None else s.state["step"] for s in todo})
        for start in starts:  # seeds resumed from different steps train as separate batches
            group = [s for s in todo if (0 if s.state is None else s.state["step"]) == start]
            results.update(_train_batch(group, dataset, overwrite, progress))
    return [results[i] for i in range(len(cfgs))]


def _train_batch(seeds: list[_Seed], dataset: ToyDataset, overwrite: bool, progress: bool) -> dict[int, dict]:
    """Train seeds that all start at the same step as one stacked batch; returns their summaries by index."""
    start = 0 if seeds[0].state is None else seeds[0].state["step"]
    placement = resume_placement(seeds[0].cfg, seeds[0].state, None)
    train_set, train_weights = training_data(dataset, placement)
    for s in seeds:
        s.parts = open_parts(s.cfg, dataset, s.run, s.state, overwrite or s.fresh, placement)
        s.rec = Recorder(s.run, s.cfg, dataset, s.parts, start, 0.0 if s.state is None else s.state["elapsed_s"])
    everyone, results = list(seeds), {}
    tc = seeds[0].cfg.train
    bp = BatchedParts.stack([s.parts for s in seeds])
    sums = LossSums()
    step = start

    def write_off(bad: dict[int, Exception]) -> None:
        """Diverged seeds get their summary and leave the batch; the others are restacked without them."""
        nonlocal seeds, bp
        for j, e in bad.items():
            msg = seeds[j].rec.diverged(step, e)
            warnings.warn(f"train_seeds: seed {seeds[j].cfg.train.seed}: {msg}", stacklevel=4)
            results[seeds[j].index] = seeds[j].run.read_summary()
        keep = [j for j in range(len(seeds)) if j not in bad]
        for j in keep:
            bp.unstack_into(j, seeds[j].parts)
        seeds = [seeds[j] for j in keep]
        sums.sums = {k: v[keep] for k, v in sums.sums.items()}
        bp = BatchedParts.stack([s.parts for s in seeds]) if seeds else bp

    label = f"{seeds[0].rec.label}, {len(seeds)} seeds"
    try:
        with ProgressBar(progress, tc.steps, start, label) as bar:
            for step in range(start + 1, tc.steps + 1):
                out = batched_train_step(bp, train_set, tc.batch_size, train_weights)
                sums.add(out)
                for j, s in enumerate(seeds):
                    s.rec.log_step(step, out, j)
                finite = torch.isfinite(out["d_loss"]) & torch.isfinite(out["g_loss"])
                if not bool(finite.all()):
                    write_off({j: TrainingDiverged(f"{', '.join(_non_finite(out, j))} became non-finite")
                               for j in range(len(seeds)) if not finite[j]})
                    if not seeds:
                        break
                if step % 25 == 0:
                    bar.update(step)
                if not eval_due(step, tc):
                    continue
                bad, info = {}, None
                for j, s in enumerate(seeds):
                    bp.unstack_into(j, s.parts)
                    weights = bp.weighting.last_diagnostics(j) if bp.weighting is not None else None
                    try:
                        info = short_metrics(s.rec.evaluate(step, s.parts, sums.means(j), weights))
                    except TrainingDiverged as e:
                        bad[j] = e
                sums = LossSums()
                if bad:
                    write_off(bad)
                    if not seeds:
                        break
                bar.update(step, info)
    except KeyboardInterrupt:
        for s in seeds:
            s.rec.interrupted(step)
        raise
    finally:
        for s in everyone:
            s.rec.close()
    for s in seeds:  # the last evaluation (always at the final step) unstacked their generators
        results[s.index] = s.rec.finish(s.parts.G, s.parts.G_ema)
    return results


def _non_finite(out: dict[str, Tensor], j: int) -> list[str]:
    return [k for k, v in out.items() if not math.isfinite(float(v[j]))]
