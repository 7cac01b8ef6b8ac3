"""Image metrics (benchmarks.md §4–5, methods.md §5.1 and §6), all offline.

* Stacked MNIST: `modes` (distinct predicted digit triples) and `kl` = KL(p̂ ‖ U_1000) = ln 1000 − H(p̂) in
  nats, on 26,000 generated samples by default.
* MNIST: `digit_kl` (KL of the predicted-digit histogram to uniform over 10, nats) and `digit_coverage`
  (distinct digits predicted, of 10).
* Feature metrics, 10,000 real vs 10,000 generated: Fréchet distance, KID (unbiased MMD², cubic polynomial
  kernel), precision / recall / density / coverage (prdc's definitions, k = 5). MNIST-like data use the
  classifier's penultimate features (per channel, concatenated); CIFAR-10 and folders a seeded random CNN.

Every number is a `Metric(name, value, protocol)`; the protocol records counts, k, kernel, log base, the
feature extractor and the classifier's accuracy and checksum, so numbers are only compared like for like.
Pairwise distances and kernels are computed in row blocks, so 10,000 × 10,000 needs a few hundred MB.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import warnings

import numpy as np
import torch
from scipy import linalg
from torch import Tensor, nn

from modegan.data.images import ImageDataset, StackedMNIST, triple_to_mode
from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError
from modegan.metrics.classifier import Classifier, check_images
from modegan.metrics.toy import Metric

N_STACKED_SAMPLES = 26_000
N_FEATURE_SAMPLES = 10_000
NEAREST_K = 5
ROW_BLOCK = 1024  # rows of a pairwise block: 1024 × 10,000 float32 = 40 MB
FD_EPS = 1e-6
RANDOM_CNN_SEED = 0


# ---------------------------------------------------------------------------------------------------------
# Mode counts and KL to uniform


def _check_labels(labels, n_classes: int, what: str) -> Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) < 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ModeganError(f"{what} must be a non-empty 1-D integer tensor, got {labels.dtype} {tuple(labels.shape)}")
    labels = labels.long()
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ModeganError(f"{what} must lie in 0..{n_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    return labels


def kl_to_uniform(labels, n_classes: int) -> float:
    """KL(p̂ ‖ U_K) = ln K − H(p̂) in nats, p̂ the histogram of `labels` over K classes, 0·ln 0 = 0."""
    labels = _check_labels(labels, n_classes, "labels")
    p = torch.bincount(labels, minlength=n_classes).to(torch.float64) / len(labels)
    p = p[p > 0]
    return float(math.log(n_classes) + torch.sum(p * torch.log(p)))


def _stacked_protocol(n: int, classifier_info: dict | None) -> dict:
    return {
        "n_samples": n, "n_modes": 1000, "mode": "predicted digit triple, id 100*d0 + 10*d1 + d2",
        "log_base": "e", "uniform_floor": round(999 / (2 * n), 6), **(classifier_info or {}),
    }


def stacked_modes(triples, classifier_info: dict | None = None) -> Metric:
    """Distinct digit triples among the samples (benchmarks.md §4 `modes`, max 1000)."""
    ids = _check_labels(triple_to_mode(torch.as_tensor(triples)), 1000, "digit triples")
    return Metric("modes", float(torch.unique(ids).numel()), _stacked_protocol(len(ids), classifier_info))


def stacked_kl(triples, classifier_info: dict | None = None) -> Metric:
    """KL(p̂ ‖ U_1000) in nats over the 1000 triples (benchmarks.md §4 `kl`; ≈ 999/(2N) for a perfect G)."""
    ids = triple_to_mode(torch.as_tensor(triples))
    return Metric("kl", kl_to_uniform(ids, 1000), _stacked_protocol(len(ids), classifier_info))


def digit_metrics(digits, classifier_info: dict | None = None) -> dict[str, Metric]:
    """MNIST: KL of the predicted-digit histogram to uniform over 10 (nats) and the number of digits seen."""
    digits = _check_labels(torch.as_tensor(digits).reshape(-1), 10, "digits")
    protocol = {"n_samples": len(digits), "n_classes": 10, "log_base": "e", **(classifier_info or {})}
    return {
        "digit_kl": Metric("digit_kl", kl_to_uniform(digits, 10), protocol),
        "digit_coverage": Metric("digit_coverage", float(torch.unique(digits).numel()), protocol),
    }


# ---------------------------------------------------------------------------------------------------------
# Feature-space metrics


def _features(x, what: str) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ModeganError(f"{what} features must be a 2-D array (n >= 2, d), got {shape}")
    x = x.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ModeganError(f"{what} features contain NaN or infinite values")
    return x


def _pair(real, fake) -> tuple[Tensor, Tensor]:
    real, fake = _features(real, "real"), _features(fake, "generated")
    if real.shape[1] != fake.shape[1]:
        raise ModeganError(f"real features have dimension {real.shape[1]}, generated {fake.shape[1]}")
    return real, fake


def frechet_from_stats(mu1, sigma1, mu2, sigma2, eps: float = FD_EPS) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), scipy.linalg.sqrtm, real part; εI added to both covariances when
    the product is singular (scipy warns) or its square root is not finite, as pytorch-fid does."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all() or any(issubclass(w.category, linalg.LinAlgWarning) for w in caught):
        offset = np.eye(len(s1)) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def frechet_distance(real, fake, protocol: dict | None = None) -> Metric:
    """Fréchet distance between Gaussians fitted to the two feature sets (unbiased covariances)."""
    real, fake = _pair(real, fake)
    stats = [(x.mean(0).numpy(), np.atleast_2d(np.cov(x.numpy(), rowvar=False))) for x in (real, fake)]
    value = frechet_from_stats(*stats[0], *stats[1])
    return Metric("fd", value, {"n_real": len(real), "n_fake": len(fake), "dim": real.shape[1], "eps": FD_EPS,
                                **(protocol or {})})


def _kernel_block(a: Tensor, b: Tensor) -> Tensor:
    """k(a_i, b_j) = (a·b/d + 1)³ for a block, fused: one addmm and an in-place cube."""
    out = torch.ones(len(a), len(b), dtype=a.dtype)
    return torch.addmm(out, a, b.T, alpha=1 / a.shape[1]).pow_(3)


def _kernel_sum(x: Tensor, y: Tensor | None, block: int) -> float:
    """Σ_ij k(x_i, y_j), or Σ_{i≠j} k(x_i, x_j) when y is None (then only the upper block triangle is
    computed and off-block terms are doubled); row sums in x's dtype, the total in float64."""
    total = 0.0
    for start in range(0, len(x), block):
        rows = x[start:start + block]
        if y is None:
            k = _kernel_block(rows, x[start:])
            b = len(rows)
            k[:, :b].fill_diagonal_(0)
            total += float(k[:, :b].sum(1).double().sum()) + 2 * float(k[:, b:].sum(1).double().sum())
        else:
            total += float(_kernel_block(rows, y).sum(1).double().sum())
    return total


def kid(real, fake, protocol: dict | None = None, block: int = ROW_BLOCK, dtype: torch.dtype = torch.float32) -> Metric:
    """KID: the unbiased MMD² U-statistic with the cubic polynomial kernel (x·y/d + 1)³ on all the samples
    (Bińkowski et al. 2018), accumulated over row blocks; deterministic, no subsets drawn. Kernels are
    computed in `dtype` (float32: 4× faster than float64 on CPU, sums kept in float64)."""
    real, fake = _pair(real, fake)
    m, n = len(real), len(fake)
    real, fake = real.to(dtype), fake.to(dtype)
    value = (
        _kernel_sum(real, None, block) / (m * (m - 1))
        + _kernel_sum(fake, None, block) / (n * (n - 1))
        - 2 * _kernel_sum(real, fake, block) / (m * n)
    )
    proto = {"n_real": m, "n_fake": n, "dim": real.shape[1], "kernel": "(x.y/d + 1)^3",
             "estimator": "unbiased MMD^2 over all pairs", "dtype": str(dtype).replace("torch.", "")}
    return Metric("kid", value, {**proto, **(protocol or {})})


def _kth_neighbour_distance(x: Tensor, k: int, block: int) -> Tensor:
    """Distance from each row to its k-th nearest other row: the (k+1)-th smallest including itself (prdc)."""
    if len(x) <= k:
        raise ModeganError(f"nearest_k = {k} needs more than {k} samples, got {len(x)}")
    out = torch.empty(len(x), dtype=x.dtype)
    for start in range(0, len(x), block):
        d = torch.cdist(x[start:start + block], x)
        out[start:start + block] = torch.topk(d, k + 1, dim=1, largest=False).values[:, k]
    return out


def prdc(
    real, fake, nearest_k: int = NEAREST_K, protocol: dict | None = None, block: int = ROW_BLOCK,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """Precision, recall (Kynkäänniemi et al. 2019), density, coverage (Naeem et al. 2020), exactly as
    clovaai's `prdc.compute_prdc` (strict '<' against the k-th neighbour radius; Euclidean distances).
    Distances are computed in `dtype` after centring both sets on the real mean (distances are unchanged,
    rounding shrinks); float32 differs from float64 only for pairs within ~1e-6 relative of a radius."""
    real, fake = _pair(real, fake)
    k = _check_count(nearest_k, "nearest_k")
    centre = real.mean(0)
    real, fake = (real - centre).to(dtype), (fake - centre).to(dtype)
    real_r = _kth_neighbour_distance(real, k, block)
    fake_r = _kth_neighbour_distance(fake, k, block)
    in_real_ball = torch.zeros(len(fake), dtype=torch.long)  # per fake: how many real balls contain it
    recalled = torch.zeros(len(real), dtype=torch.bool)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(real), block):
        d = torch.cdist(real[start:start + block], fake)  # (b, M)
        inside = d < real_r[start:start + block, None]
        in_real_ball += inside.sum(0)
        recalled[start:start + block] = (d < fake_r[None, :]).any(1)
        covered[start:start + block] = inside.any(1)
    proto = {"n_real": len(real), "n_fake": len(fake), "dim": real.shape[1], "nearest_k": k,
             "definition": "clovaai prdc 0.2", "dtype": str(dtype).replace("torch.", ""), **(protocol or {})}
    values = {
        "precision": float((in_real_ball > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_real_ball.double().mean() / k),
        "coverage": float(covered.double().mean()),
    }
    return {name: Metric(name, v, proto) for name, v in values.items()}


def feature_metrics(real, fake, nearest_k: int = NEAREST_K, protocol: dict | None = None) -> dict[str, Metric]:
    """FD, KID and PRDC on one pair of feature sets."""
    return {"fd": frechet_distance(real, fake, protocol), "kid": kid(real, fake, protocol),
            **prdc(real, fake, nearest_k, protocol)}


# ---------------------------------------------------------------------------------------------------------
# Random-CNN features (CIFAR-10, folders)


class RandomCNN(nn.Module):
    """A fixed, randomly initialised feature extractor (Naeem et al. 2020's offline embedding):
    Conv(3×3, 32) → Conv(4×4 s2, 64) → Conv(4×4 s2, 128) → Conv(4×4 s2, 256), ReLU after each, global average
    pool → 256-d. He-normal weights, zero biases, all drawn from `torch.Generator().manual_seed(seed)`, so the
    same seed gives the same network everywhere; its weight SHA-256 goes in the protocol."""

    ARCH = "conv3x3-32, conv4x4s2-64, conv4x4s2-128, conv4x4s2-256, relu, global-avg-pool (he-normal init)"

    def __init__(self, channels: int = 3, seed: int = RANDOM_CNN_SEED):
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ModeganError(f"random CNN seed must be an integer, got {seed!r}")
        self.seed, self.channels = int(seed), _check_count(channels, "image channels")
        self.net = nn.Sequential(
            nn.Conv2d(self.channels, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(), nn.Conv2d(128, 256, 4, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        g = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for m in self.net:
                if isinstance(m, nn.Conv2d):
                    fan_in = m.weight[0].numel()
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / fan_in))
                    m.bias.zero_()
        self.eval().requires_grad_(False)
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode() + t.contiguous().numpy().tobytes())
        self.sha256 = h.hexdigest()

    def describe(self) -> dict:
        return {"features": "random_cnn", "feature_seed": self.seed, "feature_arch": self.ARCH,
                "feature_sha256": self.sha256}

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        images = check_images(images, self.channels, None)
        return torch.cat([self.net(c.float()) for c in images.split(1024)])


# ---------------------------------------------------------------------------------------------------------
# One entry point


def _real_images(dataset: ImageDataset, n: int, generator: torch.Generator) -> Tensor:
    """n distinct dataset rows (a random subset; all rows if the dataset is smaller), so no duplicates
    shrink the PRDC neighbour radii."""
    idx = torch.randperm(dataset.n, generator=generator)[: min(n, dataset.n)]
    return dataset.batch(idx)


def dataset_kind(dataset: ImageDataset) -> str:
    """"stacked-mnist", "mnist", "cifar10" or "folder": which metric suite applies."""
    if isinstance(dataset, StackedMNIST):
        return "stacked-mnist"
    for kind in ("mnist", "cifar10"):
        if dataset.name.startswith(kind):
            return kind
    return "folder"


def evaluate_images(
    samples: Tensor,
    dataset: ImageDataset,
    classifier: Classifier | None = None,
    *,
    generator: torch.Generator,
    n_feature_samples: int = N_FEATURE_SAMPLES,
    nearest_k: int = NEAREST_K,
    feature_net: RandomCNN | None = None,
) -> dict[str, Metric]:
    """The metric suite for `dataset` on generated `samples` (float (N, C, H, W) in [-1, 1]).

    stacked-mnist: modes + kl on all N samples (26,000 by protocol), then FD/KID/PRDC on the classifier's
    concatenated per-channel features of the first `n_feature_samples` samples vs as many distinct real
    stacks drawn with `generator`. mnist: digit_kl + digit_coverage, then the same feature metrics.
    cifar10 / folder: FD/KID/PRDC in a seeded random CNN's features (`feature_net`, default seed 0).
    """
    generator = _check_generator(generator)
    n_feat = _check_count(n_feature_samples, "n_feature_samples")
    samples = check_images(samples, dataset.shape[0], None)
    if tuple(samples.shape[1:]) != tuple(dataset.shape):
        raise ModeganError(f"samples have shape {tuple(samples.shape[1:])}, the dataset {tuple(dataset.shape)}")
    kind = dataset_kind(dataset)
    out: dict[str, Metric] = {}
    if kind in ("stacked-mnist", "mnist"):
        if classifier is None:
            raise ModeganError(f"{kind} metrics need the MNIST classifier (modegan.metrics.classifier.load_classifier)")
        info = classifier.describe()
        feats, preds = classifier.features_and_predict(samples)
        if kind == "stacked-mnist":
            out["modes"] = stacked_modes(preds, info)
            out["kl"] = stacked_kl(preds, info)
        else:
            out.update(digit_metrics(preds[:, 0], info))
        real_feats = classifier.features(_real_images(dataset, n_feat, generator))
        protocol = {"features": "mnist_cnn penultimate (128 per channel)", **info}
    else:
        net = feature_net if feature_net is not None else RandomCNN(dataset.shape[0])
        feats = net(samples[:n_feat])
        real_feats = net(_real_images(dataset, n_feat, generator))
        protocol = net.describe()
    out.update(feature_metrics(real_feats, feats[:n_feat], nearest_k, protocol))
    return out


# ---------------------------------------------------------------------------------------------------------
# Conditional image metrics (docs/methods.md §10.5)

MAX_FD_CLASSES = 100  # intra-class FD is computed for at most this many classes (not Stacked MNIST's 1000 triples)


def _per_class(values: Tensor, labels: Tensor, n_classes: int) -> list:
    count = torch.bincount(labels, minlength=n_classes).double()
    sums = torch.bincount(labels, weights=values.double(), minlength=n_classes)
    return [None if c == 0 else float(s / c) for s, c in zip(sums.tolist(), count.tolist(), strict=True)]


def conditional_image_metrics(
    samples: Tensor, labels: Tensor, dataset: ImageDataset, class_labels: Tensor, n_classes: int,
    classes: str | None = None, classifier: Classifier | None = None, *, generator: torch.Generator,
    n_feature_samples: int = N_FEATURE_SAMPLES, feature_net: RandomCNN | None = None,
) -> dict[str, Metric]:
    """Metrics of class-conditional samples (`labels`: the class each was drawn for; `class_labels`: every
    dataset row's class, as the run trained on them).

    - cond_acc (MNIST, Stacked MNIST): the share of samples the MNIST classifier assigns to their class (Stacked
      MNIST: all three digits for `triple`, the channel's digit for `digitC`); per class in the protocol.
    - class_kl, class_modes (Stacked MNIST with digitC): per class k, the histogram of the two other channels'
      digits (100 modes) of the class-k samples: KL to uniform (nats) and the modes hit, means over classes.
    - intra_fd: per class, the Fréchet distance between the features (the run's FD features) of its generated
      samples among the first `n_feature_samples` and of its real images among as many distinct rows drawn
      with `generator`; the mean over the classes with at least 2 of each (at most 100 classes).
    """
    kind = dataset_kind(dataset)
    labels = labels.long().cpu()
    out: dict[str, Metric] = {}
    n_feat = min(_check_count(n_feature_samples, "n_feature_samples"), len(samples))
    if kind in ("mnist", "stacked-mnist"):
        if classifier is None:
            raise ModeganError(f"{kind} metrics need the MNIST classifier (modegan.metrics.classifier.load_classifier)")
        info = classifier.describe()
        preds = classifier.predict(samples).cpu()
        if kind == "mnist":
            got, what = preds[:, 0], "the classifier's digit"
        elif classes in (None, "triple"):
            got, what = triple_to_mode(preds), "the classifier's three digits (100·d0 + 10·d1 + d2)"
        else:
            c = int(classes[-1])
            got, what = preds[:, c], f"the classifier's digit of channel {c}"
        right = (got == labels).double()
        out["cond_acc"] = Metric("cond_acc", float(right.mean()), {
            "unit": "fraction", "max": 1.0, "n_samples": len(labels), "n_classes": n_classes,
            "correct": f"{what} equals the class the sample was drawn for", "per_class_acc":
            _per_class(right, labels, n_classes) if n_classes <= MAX_FD_CLASSES else "omitted (over 100 classes)",
            **info})
        if kind == "stacked-mnist" and classes not in (None, "triple"):
            c = int(classes[-1])
            others = [i for i in range(3) if i != c]
            modes = 10 * preds[:, others[0]] + preds[:, others[1]]
            kls, hits = [], []
            for k in range(n_classes):
                mk = modes[labels == k]
                if len(mk):
                    kls.append(kl_to_uniform(mk, 100))
                    hits.append(len(torch.unique(mk)))
            proto = {"n_samples": len(labels), "modes_per_class": 100, "channels": others, **info}
            out["class_kl"] = Metric("class_kl", float(np.mean(kls)), proto | {"unit": "nats", "max": math.log(100),
                                                                             "per_class": kls})
            out["class_modes"] = Metric("class_modes", float(np.mean(hits)), proto | {"unit": "modes", "max": 100,
                                                                                    "per_class": hits})
        featurise, fproto = classifier.features, {"features": "mnist_cnn penultimate (128 per channel)", **info}
    else:
        net = feature_net if feature_net is not None else RandomCNN(dataset.shape[0])
        featurise, fproto = net, net.describe()
    if n_classes <= MAX_FD_CLASSES and n_feat >= 2:
        idx = torch.randperm(dataset.n, generator=generator)[: min(n_feat, dataset.n)]
        real_feats, real_labels = featurise(dataset.batch(idx)).cpu(), class_labels[idx].cpu()
        fake_feats, fake_labels = featurise(samples[:n_feat]).cpu(), labels[:n_feat]
        per_class = []
        for k in range(n_classes):
            r, f = real_feats[real_labels == k], fake_feats[fake_labels == k]
            per_class.append(frechet_distance(r, f).value if len(r) >= 2 and len(f) >= 2 else None)
        scored = [v for v in per_class if v is not None]
        out["intra_fd"] = Metric("intra_fd", float(np.mean(scored)) if scored else float("nan"), {
            "n_real": len(idx), "n_fake": n_feat, "per_class_fd": per_class, "eps": FD_EPS,
            "classes_scored": len(scored), "rule": "mean over classes with >= 2 real and >= 2 generated", **fproto})
    return out
