"""Lesson `lipschitz`: what each Lipschitz constraint does to a Wasserstein critic (WGAN-GP's Figure 1 analogue).

The critic's objective E f(real) − E f(fake) estimates W₁ only when f is 1-Lipschitz (the Kantorovich–
Rubinstein duality, docs/theory.md §2–3). Without a constraint it grows without bound; weight clipping
bounds the Lipschitz constant by some K that depends on c and the architecture, and piles the weights at ±c;
the gradient penalty pushes ‖∇ₓf‖ to 1 along the lines between real and fake points; spectral normalisation
bounds every layer. All critics here are the library's MLP critic trained with its Wasserstein loss, its
clip_weights_ and gradient_penalty, and spectral_norm option, on one toy pair: ring8 against a Gaussian blob.
"""

from __future__ import annotations

import numpy as np
import torch

from modegan.data import load_dataset
from modegan.losses.adversarial import WASSERSTEIN, reduce
from modegan.losses.constraints import clip_weights_, gradient_penalty, interpolation_eps, penalty_at
from modegan.metrics.toy import w1
from modegan.nets.mlp import MLPDiscriminator

SEED = 0
FAKE_STD = 0.3  # the "generator": N(0, 0.3² I), inside the ring
CLIPS = (0.01, 0.1, 0.5)
GP_WEIGHT = 10.0
WIDTH, DEPTH, LR, BATCH = 64, 2, 1e-3, 256


def critics() -> dict[str, dict]:
    """The constraints compared: name -> {clip, gp, sn}."""
    out = {"none": {}}
    out |= {f"clip {c:g}": {"clip": c} for c in CLIPS}
    out |= {"gradient penalty": {"gp": GP_WEIGHT}, "spectral norm": {"sn": True}}
    return out


def toy_pair(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of ring8 (the library's mixture) and n of the blob N(0, FAKE_STD² I)."""
    real = load_dataset("ring8", n_train=10).mixture.sample(n, generator)
    fake = FAKE_STD * torch.randn(n, 2, generator=generator)
    return real, fake


def estimate_w1(f: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The critic's W₁ estimate: E f(real) − E f(fake), i.e. minus the Wasserstein critic loss."""
    with torch.no_grad():
        return float(-(reduce(WASSERSTEIN.d_real(f(real))) + reduce(WASSERSTEIN.d_fake(f(fake)))))


def train_critic(spec: dict, real: torch.Tensor, fake: torch.Tensor, held: tuple, steps: int, seed: int,
                 every: int) -> tuple[torch.nn.Module, list[tuple[int, float]]]:
    """Adam on the Wasserstein critic loss (plus λ·GP when asked), clipping after every step when asked; the
    held-out W₁ estimate every `every` steps."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's initialisation draws from the global generator
        torch.manual_seed(seed)
        f = MLPDiscriminator(2, width=WIDTH, depth=DEPTH, spectral_norm=spec.get("sn", False))
    opt = torch.optim.Adam(f.parameters(), lr=LR, betas=(0.5, 0.9))
    curve = []
    for step in range(1, steps + 1):
        i = torch.randint(len(real), (BATCH,), generator=g)
        j = torch.randint(len(fake), (BATCH,), generator=g)
        x, y = real[i], fake[j]
        loss = reduce(WASSERSTEIN.d_real(f(x))) + reduce(WASSERSTEIN.d_fake(f(y)))
        if "gp" in spec:
            loss = loss + spec["gp"] * reduce(gradient_penalty(f, x, y, g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if "clip" in spec:
            clip_weights_(f, spec["clip"])
        if step % every == 0 or step == steps:
            curve.append((step, estimate_w1(f, *held)))
    return f, curve


def input_grad_norms(f: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """‖∇ₓf(x)‖₂ at each row of x."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x)
    return grad.norm(dim=1).numpy()


def interpolate_grad_norms(f: torch.nn.Module, real, fake, generator: torch.Generator) -> np.ndarray:
    """‖∇ₓf‖ at the gradient penalty's own random interpolates (penalty_at with centre 0 is the squared norm)."""
    eps = interpolation_eps(real, generator)
    return penalty_at(f, real, fake, eps, center=0.0).detach().sqrt().numpy()


def weights(f: torch.nn.Module) -> np.ndarray:
    """Every weight matrix entry (biases left out), as the network computes with them (after spectral norm)."""
    return np.concatenate([m.weight.detach().reshape(-1).numpy() for m in f.modules()
                           if isinstance(m, torch.nn.Linear)])


def value_surface(f: torch.nn.Module, lim: float = 1.6, n: int = 61) -> list[list[float]]:
    xs = torch.linspace(-lim, lim, n)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        return f(grid).reshape(n, n).tolist()


def compute(quick: bool = False) -> dict:
    """Train every critic on the same data and seed; measure each against the exact W₁ of the held-out sets."""
    steps, n = (300, 500) if quick else (2000, 1000)
    g = torch.Generator().manual_seed(SEED)
    real, fake = toy_pair(4000, g)
    held = toy_pair(n, g)
    exact = w1(*held).value
    out = {"steps": steps, "n_held_out": n, "exact_w1": exact, "seed": SEED, "fake_std": FAKE_STD,
           "critic": {"width": WIDTH, "depth": DEPTH, "lr": LR, "batch": BATCH, "optimizer": "adam (0.5, 0.9)"},
           "critics": {}}
    for k, (name, spec) in enumerate(critics().items()):
        f, curve = train_critic(spec, real, fake, held, steps, SEED + k, max(steps // 30, 1))
        norms_real, norms_fake = input_grad_norms(f, held[0]), input_grad_norms(f, held[1])
        norms_int = interpolate_grad_norms(f, *held, torch.Generator().manual_seed(SEED + 100))
        lip = float(norms_int.max())
        est = curve[-1][1]
        w = weights(f)
        out["critics"][name] = {
            "spec": spec, "estimated_w1": est, "lipschitz": lip, "estimate_over_lipschitz": est / lip,
            "curve": curve, "grad_norm": {"real": norms_real.tolist(), "fake": norms_fake.tolist(),
                                          "interpolates": norms_int.tolist()},
            "grad_norm_mean": {"real": float(norms_real.mean()), "fake": float(norms_fake.mean()),
                               "interpolates": float(norms_int.mean())},
            "max_abs_weight": float(np.abs(w).max()),
            "weights_at_bound": float(np.mean(np.abs(w) >= 0.999 * spec["clip"])) if "clip" in spec else None,
            "weights": w.tolist(), "surface": value_surface(f),
        }
    return out


# ---------------------------------------------------------------------------------------------------------
# page


def _surfaces(numbers: dict, real: np.ndarray, fake: np.ndarray):
    import matplotlib.pyplot as plt

    names = list(numbers["critics"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.3), dpi=80)
    for ax, name in zip(axes, names, strict=True):
        z = np.array(numbers["critics"][name]["surface"])
        ax.contourf(np.linspace(-1.6, 1.6, z.shape[0]), np.linspace(-1.6, 1.6, z.shape[0]), z, levels=20,
                    cmap="viridis")
        ax.scatter(real[:300, 0], real[:300, 1], s=2, c="white")
        ax.scatter(fake[:300, 0], fake[:300, 1], s=2, c="tab:orange")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
    return fig


def _grad_histograms(numbers: dict):
    import matplotlib.pyplot as plt

    names = list(numbers["critics"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), dpi=80)
    for ax, name in zip(axes, names, strict=True):
        gn = numbers["critics"][name]["grad_norm"]
        hi = max(max(v) for v in gn.values()) * 1.05 + 1e-12
        bins = np.linspace(0, hi, 40)
        for where, color in (("real", "0.4"), ("fake", "tab:orange"), ("interpolates", "tab:blue")):
            ax.hist(gn[where], bins=bins, alpha=0.5, color=color, label=where)
        if hi > 0.5:  # a critic far below 1-Lipschitz (small clipping) would be a sliver beside the line
            ax.axvline(1.0, color="red", lw=1, ls=":")
        ax.set_xlim(0, max(hi, 1.05) if hi > 0.5 else hi)
        ax.set_title(f"{name}: max {numbers['critics'][name]['lipschitz']:.3g}", fontsize=9)
        ax.set_xlabel("‖∇ₓf‖")
    axes[0].legend(fontsize=7)
    return fig


def _weight_histograms(numbers: dict):
    import matplotlib.pyplot as plt

    names = list(numbers["critics"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), dpi=80)
    for ax, name in zip(axes, names, strict=True):
        ax.hist(numbers["critics"][name]["weights"], bins=50, color="tab:green")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("weight")
    return fig


def _w1_curves(numbers: dict):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8), dpi=80)
    for name, c in numbers["critics"].items():
        steps, est = zip(*c["curve"], strict=True)
        a.plot(steps, est, label=name)
        b.plot(steps, np.array(est) / c["lipschitz"], label=name)
    for ax, title in ((a, "critic's estimate E f(real) − E f(fake) (symlog)"),
                      (b, "estimate / final empirical Lipschitz constant")):
        ax.axhline(numbers["exact_w1"], color="black", ls="--", lw=1, label="exact W₁ (w1 metric)")
        ax.set_xlabel("critic step")
        ax.set_title(title, fontsize=10)
    a.set_yscale("symlog", linthresh=1e-4)
    a.set_ylim(bottom=0)
    b.set_ylim(0, 1.5 * numbers["exact_w1"])
    a.legend(fontsize=7)
    return fig


def page(numbers: dict) -> tuple[str, list]:
    from modegan.lessons.page import fig_uri, table

    g = torch.Generator().manual_seed(SEED + 1)
    real, fake = (t.numpy() for t in toy_pair(300, g))
    exact = numbers["exact_w1"]
    cs = numbers["critics"]
    rows = [[name, c["estimated_w1"], c["estimated_w1"] / exact, c["lipschitz"], c["grad_norm_mean"]["real"],
             c["grad_norm_mean"]["fake"], c["grad_norm_mean"]["interpolates"], c["max_abs_weight"],
             "-" if c["weights_at_bound"] is None else f"{100 * c['weights_at_bound']:.0f}%"]
            for name, c in cs.items()]
    gp, none, sn = cs["gradient penalty"], cs["none"], cs["spectral norm"]
    clip = cs[f"clip {CLIPS[0]:g}"]
    text = (
        "<p><b>Claim.</b> A Wasserstein critic estimates W₁ only if it is 1-Lipschitz. Unconstrained, its "
        "objective grows without bound; weight clipping keeps it K-Lipschitz for an unknown K and piles the "
        "weights at ±c; the gradient penalty makes ‖∇ₓf‖ ≈ 1 where it is applied, so its estimate tracks the "
        "exact W₁; spectral normalisation bounds the constant by 1 layer by layer, usually well below 1 "
        "(docs/theory.md §3–4).</p>"
        f"<p><b>Shown.</b> ring8 (white) against N(0, {FAKE_STD}² I) (orange), exact W₁ = {exact:.3f} from the "
        f"library's w1 on {numbers['n_held_out']} held-out points each; every critic trained "
        f"{numbers['steps']} steps on the same data. Gradient penalty: estimate {gp['estimated_w1']:.3f} "
        f"({100 * gp['estimated_w1'] / exact:.0f}% of exact), empirical Lipschitz constant (max ‖∇ₓf‖ over "
        f"interpolates) {gp['lipschitz']:.2f}. No constraint: estimate {none['estimated_w1']:.3g} "
        f"({none['estimated_w1'] / exact:.3g}× exact), Lipschitz constant {none['lipschitz']:.3g}, still rising. "
        f"Clipping at c = {CLIPS[0]:g}: every weight within ±{CLIPS[0]:g} (max {clip['max_abs_weight']:.3g}), "
        f"{100 * clip['weights_at_bound']:.0f}% of them at the bound, Lipschitz constant "
        f"{clip['lipschitz']:.3g}, so its estimate {clip['estimated_w1']:.3g} is W₁ times a small unknown "
        f"factor. Spectral norm: Lipschitz constant {sn['lipschitz']:.2f}, estimate {sn['estimated_w1']:.3f}.</p>"
    )
    head = ["critic", "estimated W₁", "÷ exact", "Lipschitz (max over interp.)", "mean ‖∇f‖ real", "fake",
            "interp.", "max |w|", "|w| at c"]
    return "Lesson: Lipschitz constraints on a Wasserstein critic", [
        text, table(head, rows),
        ("Estimated W₁ over critic training against the exact one (dashed); right: divided by each critic's "
         "empirical Lipschitz constant", fig_uri(_w1_curves(numbers))),
        ("Critic value surfaces f(x), colours scaled per panel: ring8 in white, the blob in orange",
         fig_uri(_surfaces(numbers, real, fake))),
        ("‖∇ₓf‖ at real, generated and interpolated points (red: 1)", fig_uri(_grad_histograms(numbers))),
        ("Weight histograms: clipping piles the weights at ±c", fig_uri(_weight_histograms(numbers))),
    ]
