"""DIWGAN's dual importance-weighted latent matching term (anonymous ICLR 2019 submission; methods.md §3).

The generator loss is L_adv + α·D_a (Eq. 3). D_a pairs a fixed set of target codes S_r with the encoded
generated batch S_g one-to-one (linear assignment) and averages the paired Euclidean distances, each
weighted by w_r (targets the generator has kept missing weigh more) times w_g (generated samples in
dense regions of the recent generator output weigh more). The numbers A1–A14 refer to methods.md §3.3.

This is a separate auxiliary loss with its own state, not a `SampleWeighting`: neither weight is a
function of the discriminator (§1.6 rule 6).
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import lap
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError, choice_error
from modegan.nets.autoencoder import IdentityEncoder, MLPAutoencoder, freeze, pretrain_autoencoder
from modegan.nets.conv_autoencoder import ConvAutoencoder
from modegan.safetensors_file import read_safetensors, write_safetensors
from modegan.weighting.kde import GaussianKDE, bandwidth_factor
from modegan.weighting.weights import normalise

TARGET_METHODS = ("kde_resample", "kmeans", "subsample")
TARGET_STATS = ("paired", "nearest")
LATENTS = ("mlp", "identity", "conv")
LOSS_OPTIONS = {"alpha": 1.0, "n_history": 10, "bw_method": "scott", "target_stat": "paired", "ema": False, "eps": 1e-8}
AE_FILE = "autoencoder.safetensors"
KMEANS_MAX_POINTS = 20_000
KMEANS_ITERS = 50
SOLVERS = ("auto", "lapjv", "lsa", "simplex")
SIMPLEX_MIN = 512
COLLAPSED_SPREAD = 0.5


def pair(cost: np.ndarray, solver: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Minimum-total-cost one-to-one pairing of targets (rows) with generated samples (columns).

    The paper pairs "one by one minimizing average distance" on unweighted distances (A8): the linear
    assignment problem, solved exactly. Rectangular costs (A9) pair min(M, B) couples: every generated
    sample gets a distinct target when M > B, every target a distinct generated sample when M < B.
    Returns (rows, cols) with rows ascending, as `scipy.optimize.linear_sum_assignment` does.

    Solvers, all exact: "lapjv" is Jonker and Volgenant's algorithm (lapx's `lapjvr`), "lsa" scipy's
    `linear_sum_assignment` (Crouse's shortest augmenting path), "simplex" POT's network simplex on the
    assignment as a transport problem with unit masses (zero-cost dummies pad a rectangular cost). "auto"
    is lapjv below 512 and the simplex for square problems from 512 up; DIWGAN's step also takes the simplex
    while the generator is collapsed (`_solve`). All three release the GIL, so the pairing overlaps the
    critic step. On the cost matrices of a DIWGAN run at batch 256 lapjv is about twice as fast as lsa once
    the codes are trained; at 1024 untrained codes took lapjv 640 ms a step against the simplex's 80-190
    (benchmarks/assignment_solvers.py, README "Speed"). With distinct costs the optimal pairing is unique,
    and the solvers return the same pairs (tested against brute force and each other).
    """
    cost = np.asarray(cost, dtype=np.float64)
    if solver not in SOLVERS:
        raise choice_error("assignment solver", solver, SOLVERS)
    if cost.ndim != 2 or cost.size == 0:
        raise ModeganError(f"pairing cost must be a non-empty 2-D array, got shape {cost.shape}")
    if not np.isfinite(cost).all():
        raise ModeganError("DIWGAN pairing distances are not finite (did the generator diverge?)")
    return _solve(cost, solver)


def _solve(cost: np.ndarray, solver: str, collapsed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`pair` on a cost matrix already checked (float64, 2-D, finite). `collapsed`: the generated codes are
    bunched far tighter than the targets (spread ratio below 0.5), so every column of the cost is nearly the
    same, a near-tie on which the augmenting-path solvers search long: "auto" then takes the simplex, at
    batch 256 about 4 ms against lapjv's 10-13 in the first ~50 steps of a grid25 run (README "Speed")."""
    m, b = cost.shape
    simplex = solver == "simplex" or (solver == "auto" and (m == b >= SIMPLEX_MIN or collapsed))
    if simplex:
        found = _simplex_pairs(cost)
        if found is not None:
            return found
    if solver == "lsa" or simplex:  # scipy also when the simplex did not return an optimal permutation
        return linear_sum_assignment(cost)
    _, rows, cols = lap.lapjvr(cost, extend_cost=True)  # rows ascending, as scipy's (tested)
    return rows, cols


def _simplex_pairs(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Network-simplex assignment; None (caller falls back to scipy) if it did not return an optimal permutation."""
    import ot  # POT is slow to import (~1-3 s), so only when a large assignment first needs it

    m, b = cost.shape
    n = max(m, b)
    square = cost if m == b else np.pad(cost, ((0, n - m), (0, n - b)))
    ones = np.ones(n)
    plan, log = ot.emd(ones, ones, square, numItermax=100 * n * n + 100_000, log=True)
    rows, cols = np.nonzero(plan > 0.5)
    keep = (rows < m) & (cols < b)
    rows, cols = rows[keep], cols[keep]
    if log.get("result_code") != 1 or len(rows) != min(m, b) or len(np.unique(cols)) != len(cols):
        return None
    return rows, cols


class PendingPairing(NamedTuple):
    """A generated batch's codes (with their graph) and a future of the host-side step (`PairedResult`)."""

    codes: Tensor
    work: Future


class PairedResult(NamedTuple):
    """What the pairing thread hands back: D_a and ∂D_a/∂codes (5f), and the step's diagnostics (5c, 5e)."""

    d_a: float
    grad: np.ndarray
    diagnostics: tuple[float, ...]  # in the order of DIAGNOSTICS


DIAGNOSTICS = ("mean_paired_distance", "ess_gen", "ess_target", "targets_above_mean")


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def pairing_threads(workers: int = 1) -> ThreadPoolExecutor:
    """A pool of `workers` pairing threads, one per process and size (a forked child makes its own: threads do
    not survive a fork). A run uses one thread; batched seeds (`train.batched`) may spread their pairings."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="modegan-pairing")
    return _POOLS[key]


def _check_loss_options(alpha, n_history, bw_method, target_stat, ema, eps) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha < 0:
        raise ModeganError(f"DIWGAN alpha must be a non-negative number, got {alpha!r}")
    _check_count(n_history, "DIWGAN n_history")
    bandwidth_factor(2, 1, bw_method)  # validates the bandwidth now, not at step N
    if target_stat not in TARGET_STATS:
        raise choice_error("DIWGAN target_stat", target_stat, TARGET_STATS)
    if not isinstance(ema, bool):
        raise ModeganError(f"DIWGAN ema must be true or false, got {ema!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps < 0:
        raise ModeganError(f"DIWGAN eps must be a non-negative number, got {eps!r}")


class DualImportanceLoss(nn.Module):
    """α·D_a for a batch of generated samples (methods.md §3.2 steps 5c–5h).

    State (all registered buffers with fixed shapes, so `state_dict()` resumes a run exactly):
    `targets` (M, k); `gen_buffer` (N, B, k), a ring of the last N batches' detached codes with
    `gen_fill`/`gen_pos`; `dist_ring` (M, N) or `dist_ema` (M,) with `dist_count` (M,); `steps`.
    `gen_buffer` is allocated at the first call, when B is known; loading a state_dict into a fresh
    module resizes it. The frozen encoder is deliberately *not* in the state_dict: it is fixed after
    phase 0 and `build_diwgan` stores it in its cache directory, so the trainer keeps it there (or
    rebuilds it). `.to(device)` moves the encoder; the state stays on the host in float32 or float64,
    because everything that reads or writes it (KDE, pairing, weights, history) runs there, in the pairing
    thread, on numpy views of the buffers.
    """

    def __init__(
        self,
        encoder: nn.Module,
        targets: Tensor,
        *,
        alpha: float = 1.0,
        n_history: int = 10,
        bw_method: str | float = "scott",
        target_stat: str = "paired",
        ema: bool = False,
        eps: float = 1e-8,
    ):
        super().__init__()
        _check_loss_options(alpha, n_history, bw_method, target_stat, ema, eps)
        if not isinstance(encoder, nn.Module):
            raise ModeganError(f"DIWGAN encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.shape[0] < 1 or targets.shape[1] < 1:
            shape = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
            raise ModeganError(f"DIWGAN targets must have shape (M, k) with M >= 1, got {shape}")
        if not bool(torch.isfinite(targets).all()):
            raise ModeganError("DIWGAN targets contain NaN or infinite values")
        self.__dict__["_encoder"] = freeze(encoder)  # a plain attribute: not a submodule, not in state_dict (A13)
        self.alpha, self.n_history, self.bw_method = float(alpha), int(n_history), bw_method
        self.target_stat, self.ema, self.eps = target_stat, ema, float(eps)
        dtype = _host_dtype(targets.dtype)
        m, k = targets.shape
        self.register_buffer("targets", targets.detach().to("cpu", dtype).clone())
        self.register_buffer("gen_buffer", torch.zeros(self.n_history, 0, k, dtype=dtype))
        self.register_buffer("gen_fill", torch.zeros((), dtype=torch.long))
        self.register_buffer("gen_pos", torch.zeros((), dtype=torch.long))
        self.register_buffer("dist_ring", torch.zeros(m, self.n_history, dtype=dtype))
        self.register_buffer("dist_ema", torch.zeros(m, dtype=dtype))
        self.register_buffer("dist_count", torch.zeros(m, dtype=torch.long))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def encoder(self) -> nn.Module:
        return self.__dict__["_encoder"]

    def _apply(self, fn, recurse=True):
        """`.to()`, `.cuda()`, `.double()`… move and cast the encoder; the state only changes float precision."""
        self.encoder._apply(fn, recurse)
        for name, buf in self._buffers.items():
            moved = fn(buf)
            self._buffers[name] = moved.to("cpu", _host_dtype(moved.dtype) if moved.is_floating_point() else None)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        incoming = state_dict.get(prefix + "gen_buffer")
        mine = self.gen_buffer
        if isinstance(incoming, Tensor) and incoming.dim() == 3 and incoming.shape != mine.shape:
            if incoming.shape[0] == mine.shape[0] and incoming.shape[2] == mine.shape[2]:
                self.gen_buffer = torch.zeros(incoming.shape, dtype=mine.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        m, k = self.targets.shape
        return (
            f"targets={m}x{k}, alpha={self.alpha}, n_history={self.n_history}, bw_method={self.bw_method!r}, "
            f"target_stat={self.target_stat!r}, ema={self.ema}"
        )

    def _state(self) -> dict[str, np.ndarray]:
        """Numpy views of the state buffers (no copies): what the pairing thread reads and updates in place."""
        return {name: buf.numpy() for name, buf in self._buffers.items()}

    def load_kernels(self) -> None:
        """Load (or, the first time, compile) the host step's numba kernels, and import POT for the simplex,
        now rather than in the first training step: about half a second once per process (a few seconds when
        numba compiles), which is set-up, not step time. Runs one host step on a scratch copy of the state."""
        state = {name: a.copy() for name, a in self._state().items()}
        n = self.n_history
        codes = np.ascontiguousarray(state["targets"][:64], state["gen_buffer"].dtype)
        state["gen_buffer"] = np.repeat(codes[None], n, axis=0)  # a full history, so the KDE runs too
        state["gen_fill"][...] = n
        self._host_step(state, codes)
        _simplex_pairs(np.array([[0.0, 1.0], [1.0, 0.0]]))

    # --- the two weight vectors -------------------------------------------------------------------

    @torch.no_grad()
    def generator_weights(self, codes: Tensor) -> Tensor:
        """w_g (B,), mean 1: the generated codes' density under a KDE of the previous N batches (A3, A4, A5).

        1 until the buffer holds N batches (§3.2 5c), and also when those N·B codes lie on a
        lower-dimensional set (a collapsed generator): the KDE is then undefined, and uniform weights
        keep the run going rather than stopping it.
        """
        log_p = self._log_density(_history(self._state()), _host_array(codes))
        if log_p is None:
            return torch.ones(len(codes), dtype=codes.dtype, device=codes.device)
        return normalise(torch.from_numpy(log_p).to(codes.device)).to(codes.dtype)

    def _log_density(self, history: np.ndarray | None, codes: np.ndarray) -> np.ndarray | None:
        """log p̂ of `codes` under the float32 KDE of `history` (one numba call that fits and evaluates it,
        releasing the GIL); None without history or when that KDE is undefined (singular covariance)."""
        if history is None:
            return None
        from modegan.weighting.cpu_kernels import kde_log_pdf  # numba: compiled (or loaded) at first use

        history = np.ascontiguousarray(history, np.float32)
        out = np.empty(len(codes), np.float32)
        found = kde_log_pdf(history, np.ascontiguousarray(codes, np.float32),
                            bandwidth_factor(*history.shape, self.bw_method), out)
        return out if found else None

    @torch.no_grad()
    def target_weights(self) -> Tensor:
        """w_r (M,), mean 1, from the targets' distance history of past steps (A5, A6).

        d̄_k is the mean of target k's last N recorded distances (or the bias-corrected EMA with decay
        1 − 1/N). The history is read as a window of N slots whose unfilled part holds the neutral
        weight 1: w = (1 − λ_k)·1 + λ_k·d̄_k/mean(d̄), λ_k = filled fraction (1 − decayᶜ for the EMA),
        renormalised to mean 1; mean(d̄) is over the targets with any history. So w_r = 1 before any
        history and moves to the full-window value as the window fills, rather than jumping there on a
        single step's distances.
        """
        w, _, _ = _target_weights(self._state(), self.n_history, self.ema)
        return torch.from_numpy(w).to(self.dist_ring.dtype)

    # --- one step ---------------------------------------------------------------------------------

    def _ensure_gen_buffer(self, b: int) -> None:
        n, have, k = self.gen_buffer.shape
        if have == 0:
            self.gen_buffer = torch.zeros(n, b, k, dtype=self.gen_buffer.dtype)
        elif have != b:
            raise ModeganError(f"DIWGAN batch size changed from {have} to {b}; its history needs a fixed batch size")

    def begin(self, x_fake: Tensor, *, background: bool = True, threads: ThreadPoolExecutor | None = None
              ) -> PendingPairing:
        """Encode a generated batch and start the rest of its step on the host (§3.2 5c–5h), in a background
        thread by default (`threads`: the pool to run it in; by default the process's one pairing thread).

        That work needs only the detached codes, so a trainer can start it before the critic steps and finish
        the loss after them: it runs in numba kernels and the assignment solver, which release the GIL, and
        touches no torch tensor (any torch call there would trade the GIL with the critic's step).
        """
        s_g = self.encoder(x_fake.flatten(1))  # every encoder takes flat rows (conv and fit's reshape them)
        k = self.targets.shape[1]
        if s_g.dim() != 2 or s_g.shape[1] != k or s_g.shape[0] < 1:
            raise ModeganError(f"DIWGAN codes must have shape (B, {k}) to match the targets, got {tuple(s_g.shape)}")
        self._ensure_gen_buffer(s_g.shape[0])
        work = functools.partial(self._host_step, self._state(), _host_array(s_g))
        if not background:
            done: Future = Future()
            done.set_result(work())
            return PendingPairing(s_g, done)
        return PendingPairing(s_g, (threads or pairing_threads()).submit(work))

    @torch.no_grad()
    def latent_costs(self, codes: Tensor | np.ndarray) -> np.ndarray:
        """(M, B) unweighted Euclidean distances from the targets to `codes` (A8, A14), in float64 on the host:
        the matrix the pairing solves. ModeganError if any is not finite (a diverged generator)."""
        return _latent_costs(self.targets.to(torch.float64).numpy(), _host_array(codes))

    def _host_step(self, state: dict[str, np.ndarray], codes: np.ndarray) -> PairedResult:
        """§3.2 5c–5h on the host: the weights from the past steps' state, the pairing, D_a and its gradient,
        then this step's distances and codes into the state (in place). Nearly all of it in numba kernels and
        the solver, which hold no GIL: the Python between them is kept to a few calls."""
        from modegan.weighting.cpu_kernels import record_distances, spread_ratio, weighted_paired_distance

        n, ema = self.n_history, self.ema
        w_r, ess_target, above = _target_weights(state, n, ema)  # 5e: past steps only
        targets = np.asarray(state["targets"], np.float64)
        cost = _latent_costs(targets, codes)
        log_p = self._log_density(_history(state), codes)  # 5c: the previous N batches, not this one
        rows, cols = _solve(cost, "auto", spread_ratio(codes, targets) < COLLAPSED_SPREAD)  # 5d
        grad, dist = np.empty(codes.shape), np.empty(len(rows))
        log_p = np.empty(0) if log_p is None else log_p.astype(np.float64)
        d_a, ess_gen = weighted_paired_distance(targets, codes, rows, cols, w_r, log_p, self.eps, grad, dist)  # 5f
        record_distances(cost, rows, cols, self.target_stat == "nearest", state["dist_ring"], state["dist_ema"],
                         state["dist_count"], n, ema)  # 5e
        pos = int(state["gen_pos"])  # 5h
        state["gen_buffer"][pos] = codes
        state["gen_pos"][...] = (pos + 1) % n
        state["gen_fill"][...] = min(int(state["gen_fill"]) + 1, n)
        state["steps"][...] += 1
        return PairedResult(d_a, grad, (dist.mean(), ess_gen, ess_target, above))

    def forward(self, x_fake: Tensor, pending: PendingPairing | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """α·D_a, differentiable w.r.t. `x_fake` through the frozen encoder, and detached diagnostics.
        `pending` is `begin(x_fake)` when the trainer started the pairing early."""
        if pending is None:
            pending = self.begin(x_fake, background=False)
        s_g = pending.codes
        done: PairedResult = pending.work.result()
        # 5f: D_a = mean over pairs of w_r·w_g·sqrt(‖s_r − s_g‖² + ε) (A7); only s_g carries gradient.
        d_a = _HostGradient.apply(s_g, torch.tensor(done.d_a, dtype=s_g.dtype, device=s_g.device),
                                  torch.from_numpy(done.grad).to(s_g.device, s_g.dtype))
        diagnostics = dict(zip(DIAGNOSTICS, torch.tensor(done.diagnostics, dtype=torch.float64).unbind(), strict=True))
        diagnostics["d_a"] = d_a.detach()
        return self.alpha * d_a, diagnostics


def _host_dtype(dtype: torch.dtype) -> torch.dtype:
    """The state's float type: float64 if asked for, else float32 (numpy has no bfloat16; the KDE is float32)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _target_weights(state: dict[str, np.ndarray], n: int, ema: bool) -> tuple[np.ndarray, float, int]:
    """w_r (float64) from the state's distance history, its ESS, and how many targets weigh above the mean."""
    from modegan.weighting.cpu_kernels import target_weights

    w = np.empty(len(state["dist_count"]))
    ess_target, above = target_weights(state["dist_ring"], state["dist_ema"], state["dist_count"], n, ema, w)
    return w, ess_target, above


def _history(state: dict[str, np.ndarray]) -> np.ndarray | None:
    """The previous N batches' codes (N·B, k), or None until the ring holds N batches."""
    n, b, k = state["gen_buffer"].shape
    return state["gen_buffer"].reshape(n * b, k) if b > 0 and int(state["gen_fill"]) >= n else None


def _latent_costs(targets: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """`DualImportanceLoss.latent_costs` on host arrays (float64 targets)."""
    from modegan.weighting.cpu_kernels import euclidean_costs  # numba: compiled (or loaded) at first use

    cost = np.empty((len(targets), len(codes)))
    if not euclidean_costs(targets, codes, cost):
        raise ModeganError("DIWGAN pairing distances are not finite (did the generator diverge?)")
    return cost


def _host_array(x: Tensor | np.ndarray, dtype=None) -> np.ndarray:
    """`x` as a C-contiguous float32 or float64 host array (`dtype` to force one), without a copy where it can."""
    if isinstance(x, Tensor):
        x = x.detach().to("cpu")
        x = (x if x.dtype in (torch.float32, torch.float64) else x.double()).numpy()
    return np.ascontiguousarray(x, dtype=dtype or (x.dtype if x.dtype in (np.float32, np.float64) else np.float64))


class _HostGradient(torch.autograd.Function):
    """A loss value and its gradient w.r.t. `x`, both computed off the graph (DIWGAN's D_a, on the host): one
    node in the generator's graph instead of a dozen small ones."""

    @staticmethod
    def forward(ctx, x, value, grad):
        ctx.save_for_backward(grad)
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_value):
        (grad,) = ctx.saved_tensors
        return grad * grad_value, None, None


# --- phase 0: targets and the auto-encoder ------------------------------------------------------------


def _kmeans(x: Tensor, k: int, generator: torch.Generator, iters: int = KMEANS_ITERS) -> Tensor:
    """Lloyd's algorithm from a k-means++ start (Arthur & Vassilvitskii 2007), all draws from `generator`.
    An empty cluster keeps its previous centre."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    d2 = ((x - x[first]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if not total > 0:
            raise ModeganError(f"k-means needs at least {k} distinct codes to choose {k} targets")
        nxt = int(torch.multinomial(d2 / total, 1, generator=generator))
        centres.append(x[nxt])
        d2 = torch.minimum(d2, ((x - x[nxt]) ** 2).sum(1))
    c = torch.stack(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        new = torch.where(counts > 0, sums / counts.clamp_min(1), c)
        if torch.equal(new, c):
            break
        c = new
    return c


@torch.no_grad()
def select_targets(
    codes: Tensor, m: int, method: str = "kde_resample", *, bw_method: str | float = "scott",
    generator: torch.Generator,
) -> Tensor:
    """The fixed target set S_r (M, k), chosen once from the encoded training set (§3.2 step 3, A1).

    kde_resample: M draws from the KDE of the codes (the paper's reading, i.i.d., can miss a mode:
    A1). kmeans: k-means centres with k = M on at most 20,000 codes, a stratified set. subsample: M
    distinct code rows.
    """
    m = _check_count(m, "number of DIWGAN targets")
    if method not in TARGET_METHODS:
        raise choice_error("DIWGAN target selection", method, TARGET_METHODS)
    generator = _check_generator(generator)
    if not isinstance(codes, Tensor) or codes.dim() != 2 or codes.shape[0] < 1:
        shape = tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__
        raise ModeganError(f"codes must be a 2-D tensor (n, k), got {shape}")
    if method == "kde_resample":
        return GaussianKDE(codes, bw_method).resample(m, generator)
    n = codes.shape[0]
    if m > n:
        raise ModeganError(f"cannot choose {m} targets by {method} from {n} codes")
    gdev = generator.device
    if method == "subsample":
        return codes[torch.randperm(n, generator=generator, device=gdev).to(codes.device)[:m]].clone()
    x = codes.detach().to(gdev)
    if n > KMEANS_MAX_POINTS:
        x = x[torch.randperm(n, generator=generator, device=gdev)[:KMEANS_MAX_POINTS]]
    return _kmeans(x, m, generator).to(device=codes.device, dtype=codes.dtype)


def _fingerprint(data: Tensor) -> str:
    return hashlib.sha256(data.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()).hexdigest()


def _pretrained_autoencoder(
    data: Tensor, latent_dim: int, steps: int, lr: float, batch_size: int, seed: int, cache_dir: Path | None,
    image_shape: tuple[int, int, int] | None = None,
) -> tuple[MLPAutoencoder | ConvAutoencoder, float]:
    """Train the AE from `seed`, or load it from `cache_dir` when it was trained there with the same settings.
    With `image_shape` it is the conv autoencoder (A12) on flat image rows, else the MLP one (A11)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if image_shape is None:
            ae = MLPAutoencoder(data.shape[1], latent_dim).to(data.device)
        else:
            ae = ConvAutoencoder(tuple(image_shape), latent_dim).to(data.device)
    key = {
        "in_dim": str(ae.in_dim), "latent_dim": str(ae.latent_dim), "hidden": str(ae.hidden), "steps": str(steps),
        "lr": repr(float(lr)), "batch_size": str(batch_size), "seed": str(seed), "data_sha256": _fingerprint(data),
        **({} if image_shape is None else {"arch": "conv", "shape": str(list(ae.shape))}),
    }
    path = None if cache_dir is None else Path(cache_dir) / AE_FILE
    if path is not None and path.is_file():
        meta, tensors = read_safetensors(path, "cached autoencoder")
        changed = sorted(name for name, value in key.items() if meta.get(name) != value)
        if changed or "mse" not in meta:
            raise ModeganError(
                f"cached autoencoder {path} was trained with other settings ({', '.join(changed) or 'mse'}); "
                "delete it or use another cache directory"
            )
        ae.load_state_dict({name: t.to(data.device) for name, t in tensors.items()})
        return ae, float(meta["mse"])
    mse = pretrain_autoencoder(
        ae, data, steps=steps, lr=lr, batch_size=batch_size, generator=torch.Generator().manual_seed(seed)
    )
    if path is not None:
        write_safetensors(path, ae.state_dict(), {**key, "mse": repr(mse)})
    return ae, mse


def build_diwgan(
    data: Tensor,
    *,
    latent: str = "mlp",
    latent_dim: int = 2,
    ae_steps: int = 2000,
    ae_lr: float = 1e-3,
    batch_size: int = 256,
    n_targets: int,
    targets: str = "kde_resample",
    cache_dir: Path | None = None,
    generator: torch.Generator,
    image_shape: tuple[int, int, int] | None = None,
    encoder: nn.Module | None = None,
    **loss_kwargs,
) -> DualImportanceLoss:
    """Phase 0 (§3.2 steps 1–3), then the loss: pretrain (or load) and freeze the AE, encode the training set,
    choose the targets once. `generator` is advanced by the same amount whether or not the AE comes from
    the cache, so a resumed build draws the same targets. The returned module carries `ae_mse` (the AE's
    final reconstruction MSE, 0 for the identity encoder) and `autoencoder` (plain attributes).
    latent "conv" (images): `data` are flat rows of images of `image_shape` (C, H, W); the encoder then takes
    the generator's images as they are. A given `encoder` (x -> code) is used, frozen, instead of an autoencoder
    (`modegan.fit`); ae_mse is then 0."""
    unknown = sorted(set(loss_kwargs) - set(LOSS_OPTIONS))
    if unknown:
        raise choice_error("DIWGAN loss option", unknown[0], LOSS_OPTIONS)
    options = {**LOSS_OPTIONS, **loss_kwargs}
    _check_loss_options(**options)
    if latent not in LATENTS:
        raise choice_error("DIWGAN latent", latent, LATENTS)
    if targets not in TARGET_METHODS:
        raise choice_error("DIWGAN target selection", targets, TARGET_METHODS)
    n_targets = _check_count(n_targets, "number of DIWGAN targets")
    generator = _check_generator(generator)
    if not isinstance(data, Tensor) or data.dim() != 2 or data.shape[0] < 2 or not data.is_floating_point():
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ModeganError(f"DIWGAN training data must be a float tensor (n, d) with n >= 2, got {shape}")
    ae_seed, target_seed = (int(s) for s in torch.randint(2**62, (2,), generator=generator, device=generator.device))

    if latent == "conv" and (image_shape is None or math.prod(image_shape) != data.shape[1]):
        raise ModeganError(f"DIWGAN latent 'conv' needs image_shape (C, H, W) matching the data's {data.shape[1]} "
                           f"columns, got {image_shape}")
    if encoder is not None:
        ae, mse = encoder, 0.0
    elif latent == "identity":
        ae, mse = IdentityEncoder(data.shape[1]), 0.0
        encoder = ae
    else:
        ae, mse = _pretrained_autoencoder(
            data, _check_count(latent_dim, "latent_dim"), _check_count(ae_steps, "ae_steps"), ae_lr,
            _check_count(batch_size, "batch_size"), ae_seed, cache_dir, image_shape if latent == "conv" else None,
        )
        encoder = ae.encoder
    freeze(ae)
    with torch.no_grad():
        codes = torch.cat([encoder(chunk) for chunk in data.detach().split(65536)])
    chosen = select_targets(
        codes, n_targets, targets, bw_method=options["bw_method"], generator=torch.Generator().manual_seed(target_seed)
    )
    loss = DualImportanceLoss(encoder, chosen, **options)
    loss.load_kernels()
    loss.__dict__["autoencoder"] = ae  # kept out of the module tree and the state_dict, like the encoder
    loss.ae_mse = mse
    return loss
