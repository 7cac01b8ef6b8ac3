"""Training one run on several processes: `torchrun --nproc_per_node N -m modegan train ...`.

What is split: the global batch `train.batch_size` (x `scheme.pack` samples), in equal contiguous slices, one
per rank. Every rank draws the *global* batch's random numbers (data indices, z, the gradient penalty's ε)
from the run's generator, in the single-process order, and keeps its slice, so the generators of all ranks
stay in step and equal the single-process run's. Each rank's losses are means over its slice; the gradients
are averaged over the ranks before every optimiser step (one flat all-reduce per network and step), which is
the gradient of the global batch's mean loss. BatchNorm normalises over the global batch: `nn.SyncBatchNorm`
on CUDA, and `GlobalBatchNorm` (differentiable all-reduces of the per-channel sums) on CPU, where torch's
SyncBatchNorm refuses CPU tensors. So a run on N processes computes what one process computes on the same
global batch; only the order of floating-point sums differs.

Why not DistributedDataParallel: its reducer expects one forward per backward and gradients landing in
`.grad` of the wrapped module, while a GAN step runs D several times before one backward (real, fake, the
penalty's interpolates), takes the penalty's gradient with `autograd.grad`, and backpropagates the generator
loss through D into G only (`backward(inputs=G)`). Averaging the gradients at `optimizer.step()` does the same
reduction DDP does, without DDP's constraints.

Rank 0 resolves the config (and, on resume, reads the checkpoint) and sends it to the others, holds the run
directory's lock, writes everything (config, metrics, plots, checkpoints, summary, generator) and evaluates;
the other ranks write nothing and need no access to the run directory. At every point where ranks could
disagree (set-up, each evaluation, the end) they exchange their status, so a failure on any rank stops every
rank with the same one-line error instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from modegan.errors import ModeganError, choice_error

BACKENDS = ("auto", "gloo", "nccl")
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = datetime.timedelta(minutes=30)  # the longest a rank waits for the others (e.g. for rank 0's evaluation)


class PeerFailed(ModeganError):
    """Another rank (or this one, already reported by rank 0) failed; `quiet`: the CLI prints nothing, since
    rank 0 prints the line."""

    def __init__(self, message: str, quiet: bool):
        super().__init__(message)
        self.quiet = quiet


@dataclass(frozen=True)
class World:
    """This process's place in the run: global rank, number of ranks, rank on this node, backend, device."""

    rank: int
    size: int
    local_rank: int
    backend: str = "gloo"
    device: torch.device = torch.device("cpu")

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def take(self, t: Tensor) -> Tensor:
        """This rank's contiguous slice (along dim 0) of a global batch."""
        n = t.shape[0] // self.size
        return t[self.rank * n:(self.rank + 1) * n]


def check_backend(name: str) -> str:
    """A known backend name (auto, gloo, nccl); checked also outside torchrun, so a typo never waits for a launch."""
    if name not in BACKENDS:
        raise choice_error("distributed backend", name, BACKENDS)
    return name


def world_from_env(backend: str = "auto", env=None) -> World | None:
    """The torchrun world (RANK, WORLD_SIZE, LOCAL_RANK), or None outside torchrun or with one process."""
    env = os.environ if env is None else env
    check_backend(backend)
    if "WORLD_SIZE" not in env:
        return None
    values = {}
    for key in ENV_KEYS[:3]:
        raw = env.get(key)
        try:
            values[key] = int(raw)
        except (TypeError, ValueError):
            raise ModeganError(f"${key} must be an integer under torchrun, got {raw!r}") from None
    rank, size, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if size < 1 or not 0 <= rank < size or local < 0:
        raise ModeganError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}")
    if size == 1:
        return None  # one process: the ordinary path
    missing = [k for k in ENV_KEYS[3:] if not env.get(k)]
    if missing:
        raise ModeganError(f"WORLD_SIZE is set but {', '.join(missing)} is not: launch with torchrun")
    backend = resolve_backend(backend)
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    return World(rank, size, local, backend, device)


def resolve_backend(name: str) -> str:
    """auto: nccl when CUDA is available, else gloo; a backend this torch build lacks is one line."""
    check_backend(name)
    if name == "auto":
        name = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_available():
        raise ModeganError("this torch build has no torch.distributed; train on one process")
    if name == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise ModeganError("distributed backend nccl needs CUDA and an NCCL build of torch; use --dist-backend gloo")
    if name == "gloo" and not dist.is_gloo_available():
        raise ModeganError("this torch build has no gloo backend; use --dist-backend nccl")
    return name


@contextlib.contextmanager
def process_group(world: World):
    """The default process group for `world` (from torchrun's MASTER_ADDR/PORT), destroyed on the way out."""
    if world.device.type == "cuda":
        torch.cuda.set_device(world.device)
    try:
        dist.init_process_group(world.backend, init_method="env://", rank=world.rank, world_size=world.size,
                                timeout=TIMEOUT)
    except Exception as e:  # noqa: BLE001 - a bad address or port: torch raises several types
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ModeganError(f"cannot start the {world.backend} process group: {first}") from None
    try:
        yield
        dist.barrier()  # every rank done with every collective before any tears its sockets down
    finally:
        dist.destroy_process_group()


def agree(world: World, error: BaseException | None = None, payload=None):
    """A point every rank reaches: returns rank 0's `payload` on every rank, or, when any rank brings an error,
    raises on every rank. Rank 0 re-raises its own error as it is (the summary and the CLI line stay those of a
    single process); otherwise rank 0 raises `PeerFailed` naming the failed rank and the others raise it quietly."""
    mine = None if error is None else (type(error).__name__, " ".join(str(error).split()) or type(error).__name__)
    gathered: list = [None] * world.size
    dist.all_gather_object(gathered, (mine, payload if world.leader else None))
    failed = [(r, e) for r, (e, _) in enumerate(gathered) if e is not None]
    if not failed:
        return gathered[0][1]
    if world.leader and error is not None:
        raise error
    r, (_, msg) = failed[0]
    raise PeerFailed(msg if r == 0 else f"rank {r}: {msg}", quiet=not world.leader)


def local_batch(batch_size: int, world: World) -> int:
    """The per-rank share of the global batch; one line when it does not divide."""
    if batch_size % world.size:
        raise ModeganError(f"train.batch_size {batch_size} does not split over {world.size} processes: "
                           f"give a multiple of {world.size}")
    return batch_size // world.size


def check_distributed(cfg, world: World) -> None:
    """What a run on several processes supports: the plain losses, constraints and packing, on any data."""
    local_batch(cfg.train.batch_size, world)
    unsupported = [name for name, on in (
        ("diwgan.enabled", cfg.diwgan.enabled), ("scheme.unroll", cfg.scheme.unroll),
        ("scheme.veegan", cfg.scheme.veegan), ("model.conditioning", cfg.model.conditioning != "none"),
        ("weighting", cfg.weighting.gen or cfg.weighting.disc_fake or cfg.weighting.disc_real),
    ) if on]
    if unsupported:
        raise ModeganError(f"{', '.join(unsupported)} does not run on several processes yet (their batch-coupled "
                           "terms are not split); train it on one process")


# --- BatchNorm over the global batch -------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """The sum over the ranks; its gradient is the sum over the ranks of the gradients (each rank's output is
    the same sum, so every rank's loss depends on every rank's input)."""

    @staticmethod
    def forward(ctx, t: Tensor) -> Tensor:
        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch: the per-channel sum, then the sum of
    squared deviations, all-reduced over the ranks (differentiable: their backward all-reduces the gradient, so
    each sample's gradient sees every rank's samples). Works with gloo on CPU; in eval mode it is BatchNorm."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        n = x.numel() // x.shape[1] * dist.get_world_size()  # every rank holds an equal slice: no count to sync
        mean = _AllReduceSum.apply(x.sum(dims)) / n
        dev = x - mean.reshape(shape)
        var = _AllReduceSum.apply((dev * dev).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        y = dev * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y


class _LocalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Plain BatchNorm over the batch it is given, any input rank: what `locally_normalised` turns the synced
    layers into while one process measures alone."""

    def _check_input_dim(self, x: Tensor) -> None:
        pass


@contextlib.contextmanager
def locally_normalised(module: nn.Module):
    """Batch norm over this process's batch only (no collective) inside the block: for what rank 0 computes
    alone at an evaluation (the critic's input gradients), the statistics one process takes of that batch."""
    synced = [(m, type(m)) for m in module.modules() if isinstance(m, (GlobalBatchNorm, nn.SyncBatchNorm))]
    for m, _ in synced:
        m.__class__ = _LocalBatchNorm
    try:
        yield module
    finally:
        for m, cls in synced:
            m.__class__ = cls


def global_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` normalised over the global batch: nn.SyncBatchNorm on CUDA, `GlobalBatchNorm`
    elsewhere. Parameters and buffers are the same objects, so optimisers and state-dict keys are unchanged."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            global_batchnorm(child, device)
    return module


# --- gradients averaged over the ranks ----------------------------------------------------------------------


def average_(tensors: list[Tensor], world: World) -> None:
    """Replace each tensor by its mean over the ranks, with one all-reduce of their concatenation."""
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat.div_(world.size)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


class AveragingOptimizer:
    """An optimiser whose `step` first averages its parameters' gradients over the ranks; everything else
    (zero_grad, state_dict, load_state_dict, param_groups, state) is the wrapped optimiser's."""

    def __init__(self, opt: torch.optim.Optimizer, world: World):
        self.opt, self.world = opt, world

    def step(self, closure=None):
        grads = [q.grad for g in self.opt.param_groups for q in g["params"] if q.grad is not None]
        average_(grads, self.world)
        return self.opt.step(closure)

    def __getattr__(self, name):
        return getattr(self.opt, name)


def average_losses(out: dict[str, Tensor], world: World) -> dict[str, Tensor]:
    """The step's losses as means over the global batch (each rank's are over its slice): every rank then logs
    and checks the same numbers."""
    keys = sorted(out)
    flat = torch.stack([out[k].detach().reshape(()).to(torch.float64) for k in keys])
    dist.all_reduce(flat)
    flat.div_(world.size)
    return {k: flat[i].to(out[k].dtype) for i, k in enumerate(keys)}


# --- the sharded update ---------------------------------------------------------------------------------------


def sharded_train_step(p, train, world: World) -> dict[str, Tensor]:
    """`steps.train_step` for the plain path on this rank's slice: the same draws from `p.rng` in the same order
    (indices, z, ε per critic step; z for the generator), each of the global batch's size, then sliced."""
    from modegan.losses.adversarial import reduce
    from modegan.losses.constraints import interpolation_eps, penalty_at
    from modegan.train.steps import after_generator_step, batch_indices, critic_loss, update_critic

    cfg = p.cfg
    n = cfg.train.batch_size * cfg.scheme.pack  # samples in the global batch
    for _ in range(cfg.loss.n_critic):
        idx = world.take(batch_indices(len(train), n, p.rng))
        real = (train[idx] if isinstance(train, Tensor) else train.batch(idx)).to(world.device)
        with torch.no_grad():
            fake = p.G(world.take(p.G.sample_z(n, p.rng)))
        loss = critic_loss(p, real, fake, None)
        out = {"d_loss": loss.detach()}
        if cfg.loss.gp_weight > 0:
            full = real[:1].expand(n, *real.shape[1:])  # the global batch's shape, for its ε draw
            eps = world.take(interpolation_eps(full, p.rng, cfg.scheme.pack))
            gp = penalty_at(p.D, real, fake, eps, center=cfg.loss.gp_center, group=cfg.scheme.pack).mean()
            loss = loss + cfg.loss.gp_weight * gp
            out["gp"] = gp.detach()
        update_critic(p, loss)
    fake = p.G(world.take(p.G.sample_z(n, p.rng)))
    g_loss = reduce(p.loss.g(p.D(fake)))
    out["g_loss"] = g_loss.detach()
    p.g_opt.zero_grad(set_to_none=True)
    g_loss.backward(inputs=list(p.G.parameters()))
    p.g_opt.step()
    after_generator_step(p)
    return out


def check_placement(parts, world: World) -> None:
    """The networks must live on this rank's device (nccl: cuda:LOCAL_RANK; gloo: cpu), which the collectives use."""
    for name, m in parts.modules().items():
        for t in m.state_dict().values():
            if t.device != world.device:
                raise ModeganError(f"{name} is on {t.device} but rank {world.rank}'s device for {world.backend} is "
                                   f"{world.device}; place the networks there (or use --dist-backend gloo for CPU)")


def distribute_parts(parts, world: World) -> None:
    """Make `parts` one rank of the run: every tensor of state from rank 0, BatchNorm over the global batch,
    gradients averaged at each optimiser step."""
    for m in parts.modules().values():
        for t in m.state_dict().values():
            dist.broadcast(t, 0)
        global_batchnorm(m, world.device)
    rng = [parts.rng.get_state()]  # equal by construction (seed or checkpoint); made certain, as the weights
    dist.broadcast_object_list(rng, 0)
    parts.rng.set_state(rng[0])
    parts.g_opt = AveragingOptimizer(parts.g_opt, world)
    parts.d_opt = AveragingOptimizer(parts.d_opt, world)


# --- the loop ---------------------------------------------------------------------------------------------------


def train_distributed(world: World, config, *, out, resume, steps, overwrite: bool, progress: bool) -> dict:
    """`run.train` on one rank of a torchrun launch; returns the summary (rank 0's, on every rank)."""
    with process_group(world):
        try:
            return _train_ranks(world, config, out=out, resume=resume, steps=steps, overwrite=overwrite,
                                progress=progress)
        except PeerFailed:
            raise  # agreed: quiet except on rank 0
        except ModeganError as e:
            from modegan.train.run import TrainingDiverged

            if world.leader:
                raise
            if isinstance(e, TrainingDiverged):  # the same losses on every rank: rank 0 reports it
                e.quiet = True
                raise
            raise ModeganError(f"rank {world.rank}: {e}") from None  # this rank's own, not agreed


def _leader_setup(stack: contextlib.ExitStack, world: World, config, out, resume, steps, overwrite):
    """Rank 0: the run's config and checkpoint (state None: a new run), holding the run's lock."""
    from modegan.config import config_from_any
    from modegan.train.files import run_lock
    from modegan.train.run import check_config, resume_state
    from modegan.train.rundir import RunDir

    if resume is not None:
        run = RunDir(resume)
        cfg, _ = resume_state(run, steps, clean=False)
        check_distributed(cfg, world)
        stack.enter_context(run_lock(run.path))
        cfg, state = resume_state(run, steps)
        return run, cfg, state, state is None
    if out is None:
        raise ModeganError("an output directory is needed (--out DIR)")
    cfg = config_from_any(config if config is not None else {})
    if steps is not None:
        cfg.train.steps = steps
    run = RunDir(out)
    check_config(cfg)
    check_distributed(cfg, world)
    run.check_new(overwrite)
    stack.enter_context(run_lock(run.path))
    return run, cfg, None, overwrite


def _train_ranks(world: World, config, *, out, resume, steps, overwrite, progress) -> dict:
    from modegan.device import Placement
    from modegan.train.checkpoint import restore
    from modegan.train.parts import build_parts
    from modegan.train.run import (
        LossSums,
        ProgressBar,
        Recorder,
        TrainingDiverged,
        check_config,
        check_finite,
        data_dim,
        eval_due,
        open_parts,
        run_classifier,
        run_dataset,
        short_metrics,
        training_data,
    )

    with contextlib.ExitStack() as stack:
        run = cfg = state = None
        err = None
        if world.leader:
            try:
                run, cfg, state, overwrite = _leader_setup(stack, world, config, out, resume, steps, overwrite)
            except Exception as e:  # noqa: BLE001 - any failure is every rank's: see `agree`
                err = e
        cfg, state = agree(world, err, (cfg, state) if err is None else None)

        rec = None
        try:
            check_config(cfg)
            check_distributed(cfg, world)
            placement = Placement(world.device, cfg.train.precision)  # the rank's device, not train.device
            dataset = run_dataset(cfg)
            if world.leader:
                run_classifier(cfg, dataset)
                parts = open_parts(cfg, dataset, run, state, overwrite, placement)
                rec = Recorder(run, cfg, dataset, parts, 0 if state is None else state["step"],
                               0.0 if state is None else state["elapsed_s"])
            else:
                parts = build_parts(cfg, data_dim(dataset), placement)
                if state is not None:
                    restore(parts, state)
            check_placement(parts, world)
            err = None
        except Exception as e:  # noqa: BLE001
            err = e
        try:
            agree(world, err)
        except BaseException as e:
            if rec is not None:
                if isinstance(e, ModeganError):
                    rec.failed(0 if state is None else state["step"], e)
                rec.close()
            raise
        del state  # rank 0's copy went to the others; the parts hold it now

        distribute_parts(parts, world)
        tc = cfg.train
        train_set, _ = training_data(dataset, placement)
        start = parts.step
        sums = LossSums()
        step = start
        try:
            with ProgressBar(progress and world.leader, tc.steps, start,
                             rec.label if rec is not None else "") as bar:
                for step in range(start + 1, tc.steps + 1):
                    with placement.autocast():
                        out_t = average_losses(sharded_train_step(parts, train_set, world), world)
                    sums.add(out_t)
                    if rec is not None:
                        rec.log_step(step, out_t)
                    check_finite(out_t, 1)  # every step: the losses were just all-reduced anyway
                    if step % 25 == 0:
                        bar.update(step)
                    if not eval_due(step, tc):
                        continue
                    err = metrics = None
                    if world.leader:
                        try:
                            metrics = rec.evaluate(step, parts, sums.means(), None)
                        except Exception as e:  # noqa: BLE001
                            err = e
                    agree(world, err)
                    sums = LossSums()
                    if metrics is not None:
                        bar.update(step, short_metrics(metrics))
            err = summary = None
            if world.leader:
                try:
                    summary = rec.finish(parts.G, parts.G_ema)
                except Exception as e:  # noqa: BLE001
                    err = e
            return agree(world, err, summary)
        except TrainingDiverged as e:
            if rec is None:
                raise
            raise TrainingDiverged(rec.diverged(step, e)) from None
        except ModeganError as e:
            if rec is not None:
                rec.failed(step, e)
            raise
        except KeyboardInterrupt:
            if rec is not None:
                rec.interrupted(step)
            raise
        finally:
            if rec is not None:
                rec.close()

