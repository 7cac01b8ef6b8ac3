"""Lesson `vanishing-gradients`: what the generator learns from a discriminator that is nearly optimal.

With the generator held fixed away from the data, train the discriminator towards optimality and measure,
as it improves, the norm of the gradient the generator would receive (the WGAN paper's Figure 2 analogue;
Arjovsky & Bottou 2017, §2.2). Minimax: G minimises log(1 − D(G(z))), whose gradient is −D(G(z))·∇ℓ, so it
dies as D(G(z)) → 0. Non-saturating: G minimises −log D(G(z)), gradient −(1 − D(G(z)))·∇ℓ, which does not
vanish but follows a logit that keeps steepening. A Lipschitz critic (Wasserstein loss with the gradient
penalty) gives a gradient whose size is bounded and settles as the critic converges. Everything uses the
library's networks, losses, gradient penalty and grad_norm.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from modegan.data import load_dataset
from modegan.losses.adversarial import MINIMAX, NONSATURATING, WASSERSTEIN, reduce
from modegan.losses.constraints import gradient_penalty
from modegan.metrics.toy import w1
from modegan.nets.mlp import MLPDiscriminator, MLPGenerator
from modegan.train.steps import grad_norm

SEED = 0
WIDTH, LR, BATCH, GP_WEIGHT = 64, 1e-3, 256, 10.0


def checkpoints(steps: int) -> list[int]:
    """Discriminator steps at which the generator's gradient is measured: 0 and log-spaced up to `steps`."""
    return sorted({0, *np.unique(np.geomspace(1, steps, 24).round().astype(int)).tolist()})


def generator_grad(G: MLPGenerator, D: torch.nn.Module, z: torch.Tensor, term) -> float:
    """‖∇_θ L_G‖ for the generator term `term` of a loss, at the fixed z (the library's grad_norm)."""
    G.zero_grad()
    reduce(term(D(G(z)))).backward()
    return grad_norm(G)


def setup(seed: int) -> tuple[MLPGenerator, torch.Tensor, torch.Tensor]:
    """A freshly initialised generator (its samples sit near the origin, inside the ring) and the real data."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's initialisation draws from the global generator
        torch.manual_seed(seed)
        G = MLPGenerator(2, 2, width=WIDTH, depth=2)
    real = load_dataset("ring8", n_train=10).mixture.sample(4000, g)
    return G, real, G.sample_z(1000, g)


def train_and_measure(kind: str, steps: int, seed: int = SEED) -> dict:
    """Train a discriminator ("gan": the GAN loss, which minimax and non-saturating share) or a WGAN-GP critic
    ("critic") against the fixed generator; at each checkpoint record the generator's gradient norms."""
    G, real, z_eval = setup(seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        D = MLPDiscriminator(2, width=WIDTH, depth=2)
    opt = torch.optim.Adam(D.parameters(), lr=LR, betas=(0.5, 0.999))
    loss = NONSATURATING if kind == "gan" else WASSERSTEIN
    with torch.no_grad():
        x_eval = real[:1000]
        fake_pool = G(G.sample_z(4000, g))
    marks, out = set(checkpoints(steps)), {"step": []}
    for step in range(steps + 1):
        if step in marks:
            out["step"].append(step)
            with torch.no_grad():
                s_real, s_fake = D(x_eval), D(G(z_eval))
            if kind == "gan":
                rec = {"grad_minimax": generator_grad(G, D, z_eval, MINIMAX.g),
                       "grad_nonsaturating": generator_grad(G, D, z_eval, NONSATURATING.g),
                       "d_fake": float(torch.sigmoid(s_fake).mean()), "d_real": float(torch.sigmoid(s_real).mean()),
                       # at the optimum the D loss is 2 ln 2 − 2 JS, so this is D's JS estimate
                       "js_estimate": math.log(2) - 0.5 * float(reduce(loss.d_real(s_real)) +
                                                                 reduce(loss.d_fake(s_fake)))}
            else:
                rec = {"grad_critic": generator_grad(G, D, z_eval, WASSERSTEIN.g),
                       "w1_estimate": float(s_real.mean() - s_fake.mean())}
            for k, v in rec.items():
                out.setdefault(k, []).append(v)
        if step == steps:
            break
        x = real[torch.randint(len(real), (BATCH,), generator=g)]
        y = fake_pool[torch.randint(len(fake_pool), (BATCH,), generator=g)]
        d_loss = reduce(loss.d_real(D(x))) + reduce(loss.d_fake(D(y)))
        if kind == "critic":
            d_loss = d_loss + GP_WEIGHT * reduce(gradient_penalty(D, x, y, g))
        opt.zero_grad()
        d_loss.backward()
        opt.step()
    return out


def compute(quick: bool = False) -> dict:
    steps = 300 if quick else 10_000
    G, real, z_eval = setup(SEED)
    exact = w1(G.sample(1000, torch.Generator().manual_seed(SEED + 2)), real[:1000]).value
    return {"d_steps": steps, "exact_w1": exact, "seed": SEED, "z_eval": 1000, "width": WIDTH, "lr": LR, "batch": BATCH,
            "gp_weight": GP_WEIGHT, "gan": train_and_measure("gan", steps),
            "critic": train_and_measure("critic", steps)}


# ---------------------------------------------------------------------------------------------------------
# page


def _figure(numbers: dict):
    import matplotlib.pyplot as plt

    gan, critic = numbers["gan"], numbers["critic"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4), dpi=80)
    x = np.array(gan["step"]) + 1
    a.plot(x, gan["grad_minimax"], marker="o", ms=3, label="minimax: log(1 − D(G(z)))")
    a.plot(x, gan["grad_nonsaturating"], marker="o", ms=3, label="non-saturating: −log D(G(z))")
    a.plot(np.array(critic["step"]) + 1, critic["grad_critic"], marker="o", ms=3, label="WGAN-GP critic: −f(G(z))")
    a.set_yscale("log")
    a.set_title("generator gradient norm ‖∇_θ L_G‖", fontsize=10)
    b.plot(x, gan["d_fake"], marker="o", ms=3, label="mean D(G(z))")
    b.plot(x, gan["d_real"], marker="o", ms=3, label="mean D(x), x real")
    b.set_yscale("log")
    b.set_title("the discriminator saturates", fontsize=10)
    c.plot(x, gan["js_estimate"], marker="o", ms=3, label="GAN D: ln 2 − ½ D loss (JS estimate)")
    c.plot(np.array(critic["step"]) + 1, critic["w1_estimate"], marker="o", ms=3, label="critic: W₁ estimate")
    c.axhline(math.log(2), color="0.6", ls=":", lw=1)
    c.axhline(numbers["exact_w1"], color="tab:orange", ls="--", lw=1, label="exact W₁ (w1 metric)")
    c.set_title("what each is estimating", fontsize=10)
    for ax in (a, b, c):
        ax.set_xscale("log")
        ax.set_xlabel("discriminator steps + 1")
        ax.legend(fontsize=7)
    return fig


def page(numbers: dict) -> tuple[str, list]:
    from modegan.lessons.page import fig_uri, table

    gan, critic = numbers["gan"], numbers["critic"]
    first = {k: gan[k][0] for k in ("grad_minimax", "grad_nonsaturating", "d_fake")}
    last = {k: gan[k][-1] for k in ("grad_minimax", "grad_nonsaturating", "d_fake", "js_estimate")}
    i_peak = int(np.argmax(gan["grad_minimax"]))
    peak, peak_step = gan["grad_minimax"][i_peak], gan["step"][i_peak]
    text = (
        "<p><b>Claim.</b> The better the discriminator, the less a minimax generator learns: its gradient "
        "−D(G(z))·∇ℓ vanishes as D(G(z)) → 0 (docs/theory.md §1). The non-saturating loss keeps a gradient, "
        "−(1 − D(G(z)))·∇ℓ, but it follows an ever steeper logit rather than a distance. A Lipschitz critic's "
        "gradient stays bounded and meaningful, because the critic estimates W₁ rather than a saturated JS.</p>"
        f"<p><b>Shown.</b> A fixed, freshly initialised generator (samples near the origin) against ring8; the "
        f"discriminator trained {numbers['d_steps']} Adam steps. Mean D(G(z)) falls from {first['d_fake']:.3g} "
        f"to {last['d_fake']:.2g}; the minimax gradient norm peaks at {peak:.3g} (step {peak_step}, while D is still "
        f"unsure) and then falls to {last['grad_minimax']:.2g} ({peak / max(last['grad_minimax'], 1e-300):.2g}× "
        "smaller), "
        f"while the non-saturating one goes from {first['grad_nonsaturating']:.3g} to "
        f"{last['grad_nonsaturating']:.3g}. The discriminator's JS estimate reaches {last['js_estimate']:.3f} "
        f"(ln 2 = {math.log(2):.3f}: the two are told apart perfectly). The WGAN-GP critic's gradient norm ends at "
        f"{critic['grad_critic'][-1]:.3g} with a W₁ estimate of {critic['w1_estimate'][-1]:.3f} (exact W₁ "
        f"{numbers['exact_w1']:.3f}, the library's w1 on 1000 points each).</p>"
    )
    idx = sorted({0, len(gan["step"]) // 3, 2 * len(gan["step"]) // 3, len(gan["step"]) - 1})
    rows = [[gan["step"][i], gan["d_fake"][i], gan["grad_minimax"][i], gan["grad_nonsaturating"][i],
             critic["grad_critic"][i], gan["js_estimate"][i], critic["w1_estimate"][i]] for i in idx]
    head = ["D step", "mean D(G(z))", "‖∇‖ minimax", "‖∇‖ non-saturating", "‖∇‖ critic", "JS estimate",
            "W₁ estimate"]
    return "Lesson: vanishing generator gradients", [
        text, table(head, rows),
        ("Generator gradient norms, D's saturation and the estimated divergences as the discriminator trains",
         fig_uri(_figure(numbers))),
    ]
