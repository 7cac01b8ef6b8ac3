"""Per-sample weights for one loss term, in the plug-in form of methods.md §1.6.

Every function returns a (B,) tensor with mean 1 over the batch (except `fixed(..., self_normalised=False)`,
which keeps the dataset's own scale), so a term is reduced as `(w * term).mean()` and has the scale of the
unweighted `term.mean()`: learning rates transfer (§1.6 rule 2). Weights are formed in log space and
normalised with a softmax, never as D/(1 - D), which overflows as D -> 1 (§1.6 rule 1).
The batched trainer passes (S, B) tensors, one row per seed; every function works along the last axis.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from modegan.errors import ModeganError, choice_error

ROLES = ("gen", "disc_fake", "disc_real")
ALLOWED = {
    "gen": ("density_ratio", "hard", "topk", "distance"),
    "disc_fake": ("density_ratio", "hard", "topk", "distance"),
    "disc_real": ("hard", "data", "data_sn"),
}
BUILTIN_ALLOWED = dict(ALLOWED)  # `modegan.register_weighting` extends ALLOWED and REGISTERED
REGISTERED: dict = {}
TOPK_DEFAULTS = {"start": 1.0, "decay": 0.99, "min_rate": 0.5, "every": 1}


def _check_batch(x: Tensor, what: str) -> Tensor:
    """One value per sample along the last axis; a leading axis stacks independent runs (batched seeds)."""
    if not isinstance(x, Tensor) or x.dim() not in (1, 2) or x.shape[-1] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ModeganError(f"{what} must be a non-empty 1-D tensor (one value per sample), got {shape}")
    return x


def _check_positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ModeganError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def normalise(log_w: Tensor) -> Tensor:
    """B · softmax(log_w): mean-1 weights from log weights; adding a constant to log_w changes nothing."""
    log_w = _check_batch(log_w, "log weights")
    return log_w.shape[-1] * torch.softmax(log_w, dim=-1)


def density_ratio(scores: Tensor, temperature: float = 1.0, detach: bool = True) -> Tensor:
    """IWGAN weights (Hu et al. 2018, Eq. 16; methods.md §1.1): log w = score / T.

    For a sigmoid D with logit ℓ, D/(1 - D) = exp(ℓ), the discriminator's density-ratio estimate
    p_data/p_g, normalised over the minibatch. For an unbounded critic f the same formula gives
    exp(f/T) / mean exp(f/T), the KL-WGAN ratio (Song & Ermon 2020, §1.5), which needs `detach=False`
    so the gradient flows through the weights; IWGAN itself detaches them (IWAE-style coefficients).
    """
    t = _check_positive(temperature, "temperature")
    log_w = _check_batch(scores, "scores") / t
    return normalise(log_w.detach() if detach else log_w)


def hard(per_sample_loss: Tensor, temperature: float = 1.0) -> Tensor:
    """The project's "hard-sample" weighting (seed 000, methods.md §7): log w = loss_i / T, detached.

    Seed 000 asks to focus each update on the samples the discriminator finds hard, weighting them by
    "the inverse of the discriminator's output". With T = 1, exp(loss) is exactly that inverse for every
    role, because each GAN term is minus a log-probability:
      real term   -log D(x)          -> w ∝ 1 / D(x)
      fake term   -log(1 - D(G(z)))  -> w ∝ 1 / (1 - D(G(z)))
      NS gen term -log D(G(z))       -> w ∝ 1 / D(G(z))
    For a critic the same formula gives exp(-f(x)/T) on the real term (-f) and exp(f/T) on the fake term.
    T > 1 flattens the weights towards uniform. This is not Hu et al.'s IWGAN (see `density_ratio`).
    """
    t = _check_positive(temperature, "temperature")
    return normalise(_check_batch(per_sample_loss, "per-sample loss").detach() / t)


def distance(samples: Tensor, real: Tensor, temperature: float = 1.0) -> Tensor:
    """Distance weights (the project's IWGAN description, "a function of the distance between the real and
    fake samples"): w_i ∝ d_i^(1/T), d_i the Euclidean distance from generated sample i to its nearest real
    sample in the batch, normalised to mean 1 over the batch and detached.

    A power rather than exp(d/T): after normalisation only ratios of distances matter, so the weights do not
    depend on the data's units (ring8's std is 0.01, an image's pixels span [-1, 1]) and one T serves every
    dataset; T = 1 weights in proportion to the distance, T → ∞ is uniform, T < 1 sharpens. Samples far
    from every real point (off the data, or in a mode the batch lacks) count more. A sample exactly on a real
    point gets weight 0 (log 0 is clamped to the smallest positive log, so a batch all on the data is uniform).
    `samples` (B, ...) and `real` (R, ...) are flattened per sample; stacked seeds are not supported.
    """
    t = _check_positive(temperature, "temperature")
    if not isinstance(samples, Tensor) or not isinstance(real, Tensor) or samples.dim() < 2 or real.dim() < 2 \
            or samples.shape[1:] != real.shape[1:] or samples.shape[0] < 1 or real.shape[0] < 1:
        shapes = [tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__ for x in (samples, real)]
        raise ModeganError(f"distance weights need generated and real batches of one sample shape, got {shapes}")
    fake, data = samples.detach().flatten(1), real.detach().flatten(1).to(samples.dtype)
    d = torch.cdist(fake, data, compute_mode="donot_use_mm_for_euclid_dist").amin(-1)
    return normalise(torch.log(d.clamp_min(torch.finfo(d.dtype).tiny)) / t)


def top_k(scores: Tensor, rate: float) -> Tensor:
    """Top-k training (Sinha et al. 2020, §1.4): keep the k = max(1, int(rate·B)) samples with the highest
    score (the most realistic), weight 0 for the rest; mean 1 over the batch, so kept samples weigh B/k."""
    scores = _check_batch(scores, "scores")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate <= 1:
        raise ModeganError(f"top-k rate must be in (0, 1], got {rate!r}")
    b = scores.shape[-1]
    k = min(b, max(1, int(rate * b)))
    kept = torch.topk(scores.detach(), k, dim=-1).indices
    w = torch.zeros(scores.shape, dtype=scores.dtype, device=scores.device)
    return w.scatter_(-1, kept, b / k)


def top_k_rate(step: int, start: float = 1.0, decay: float = 0.99, min_rate: float = 0.5, every: int = 1) -> float:
    """max(min_rate, start · decay^(step // every)): the torch_mimicry schedule (×0.99 per epoch, floor 0.5)
    when `every` is the number of generator steps per epoch."""
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ModeganError(f"top-k 'every' must be a positive integer, got {every!r}")
    if not 0 < min_rate <= start <= 1 or not 0 < decay <= 1:
        raise ModeganError(
            f"top-k schedule needs 0 < min_rate <= start <= 1 and 0 < decay <= 1, got start={start!r}, "
            f"decay={decay!r}, min_rate={min_rate!r}"
        )
    return max(float(min_rate), float(start) * float(decay) ** (int(step) // int(every)))


def fixed(data_weights: Tensor, self_normalised: bool) -> Tensor:
    """Dataset-carried weights (Diesendruck et al. 2018, §1.2), for the real term of the D loss.

    `self_normalised=False` is their 'iw' estimator mean(w_i · loss_i): the weights are returned as given
    and are assumed to have mean 1 over the whole dataset (dP/dQ up to a known constant). True is 'sniw':
    B·w/Σw, mean 1 over the batch, for weights known only up to a constant.
    """
    w = _check_batch(data_weights, "data weights").detach()
    return w.shape[-1] * w / w.sum(-1, keepdim=True) if self_normalised else w


def combine(*weights: Tensor) -> Tensor:
    """The product of several weightings of one term, renormalised to mean 1 (in log space; top-k zeros
    stay zero). Renormalising turns unnormalised 'iw' data weights into 'sniw' ones."""
    if not weights:
        raise ModeganError("combine needs at least one weight tensor")
    log_w = sum(torch.log(_check_batch(w, "weights")) for w in weights)
    return normalise(log_w)


def ess(w: Tensor) -> Tensor:
    """Effective sample size (Σw)²/Σw², between 1 (one sample carries all weight) and B (uniform)."""
    return w.sum(-1) ** 2 / (w * w).sum(-1)


def max_over_mean(w: Tensor) -> Tensor:
    return w.amax(-1) / w.mean(-1)


class SampleWeighting:
    """The weights of each loss term, for a trainer that calls `weights` once per term.

    Built from per-role name lists (methods.md §1.6 rule 4): role "gen" weights the generator term,
    "disc_fake" and "disc_real" the two discriminator terms. Several names on one role multiply
    (`combine`). A role with no names returns None, so an unweighted term keeps its plain mean at no cost.
    `detach=False` keeps density-ratio weights differentiable (KL-WGAN).
    """

    def __init__(
        self,
        gen=(),
        disc_fake=(),
        disc_real=(),
        *,
        temperature: float = 1.0,
        topk: dict | None = None,
        detach: bool = True,
    ):
        self.names: dict[str, tuple[str, ...]] = {}
        for role, names in zip(ROLES, (gen, disc_fake, disc_real), strict=True):
            if isinstance(names, str):
                names = (names,)
            for name in names:
                if name not in ALLOWED[role]:
                    raise choice_error(f"weighting for role {role!r}:", name, ALLOWED[role])
            if len(set(names)) != len(names):
                raise ModeganError(f"weighting for role {role!r} lists a name twice: {list(names)}")
            self.names[role] = tuple(names)
        self.temperature = _check_positive(temperature, "weighting temperature")
        unknown = set(topk or {}) - set(TOPK_DEFAULTS)
        if unknown:
            raise choice_error("top-k schedule key", sorted(unknown)[0], TOPK_DEFAULTS)
        self.topk = {**TOPK_DEFAULTS, **(topk or {})}
        top_k_rate(0, **self.topk)  # validate the schedule now, not at the first weighted step
        self.detach = bool(detach)
        self._last: dict[str, Tensor] = {}

    def active(self, role: str) -> bool:
        return bool(self._names(role))

    def _names(self, role: str) -> tuple[str, ...]:
        if role not in self.names:
            raise choice_error("weighting role", role, ROLES)
        return self.names[role]

    def _one(self, name: str, scores, per_sample_loss, step, data_weights, samples, real) -> Tensor:
        if name in REGISTERED:
            return registered_weights(name, scores, per_sample_loss, step=step, temperature=self.temperature,
                                      samples=samples, real=real, data_weights=data_weights)
        if name == "distance":
            if samples is None or real is None:
                raise ModeganError("weighting 'distance' needs the generated and the real batch; this trainer "
                                   "does not pass them")
            w = distance(samples, real, self.temperature)
            if w.shape != scores.shape:
                raise ModeganError(f"weighting 'distance' gives one weight per sample ({w.shape[-1]}), but the "
                                   f"term has {scores.shape[-1]} scores (packed discriminator?)")
            return w
        if name == "density_ratio":
            return density_ratio(scores, self.temperature, self.detach)
        if name == "hard":
            return hard(per_sample_loss, self.temperature)
        if name == "topk":
            return top_k(scores, top_k_rate(step, **self.topk))
        if data_weights is None:
            raise ModeganError(f"weighting {name!r} needs per-example data weights, but the dataset has none")
        return fixed(data_weights, self_normalised=name == "data_sn")

    def weights(
        self, role: str, *, scores: Tensor, per_sample_loss: Tensor, step: int, data_weights: Tensor | None = None,
        samples: Tensor | None = None, real: Tensor | None = None,
    ) -> Tensor | None:
        """Mean-1 weights (B,) for this role's term, or None when the role is unweighted.

        `samples` (the term's generated batch) and `real` (the step's real batch) are read by 'distance' only.
        """
        names = self._names(role)
        if not names:
            return None
        parts = [self._one(n, scores, per_sample_loss, step, data_weights, samples, real) for n in names]
        w = parts[0] if len(parts) == 1 else combine(*parts)
        self._last[role] = w.detach()
        return w

    def last_diagnostics(self, seed: int | None = None) -> dict[str, dict[str, float]]:
        """{role: {"ess": ..., "max_over_mean": ...}} for the last weights of each weighted role (host sync).

        `seed` picks one run's row when the weights were computed for stacked seeds, shape (S, B).
        """
        last = self._last if seed is None else {role: w[seed] for role, w in self._last.items()}
        return {role: {"ess": float(ess(w)), "max_over_mean": float(max_over_mean(w))} for role, w in last.items()}


def registered_weights(name: str, scores: Tensor, per_sample_loss: Tensor, **context) -> Tensor:
    """A registered weighting's weights, checked (one positive finite value per score) and scaled to mean 1."""
    w = REGISTERED[name](scores, per_sample_loss, **context)
    if not isinstance(w, Tensor) or w.shape != scores.shape:
        got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ModeganError(f"weighting {name!r} must return one weight per sample, shape {tuple(scores.shape)}; "
                           f"got {got}")
    w = w.detach().to(scores.dtype)
    if not (torch.isfinite(w).all() and (w >= 0).all() and (w.sum(-1) > 0).all()):
        raise ModeganError(f"weighting {name!r} returned a negative, non-finite or all-zero weight")
    return w * (w.shape[-1] / w.sum(-1, keepdim=True))
