"""Hand-computed values for every adversarial loss term, the gradient penalty and clipping."""

import math

import pytest
import torch
from torch import nn

from modegan.errors import ModeganError
from modegan.losses import LOSSES, clip_weights_, get_loss, gradient_penalty

LN3 = math.log(3.0)


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


def test_nonsaturating_terms_by_hand():
    loss = get_loss("nonsaturating")
    # D = sigmoid(ℓ): ℓ = 0 -> D = 1/2; ℓ = ln 3 -> D = 3/4.
    assert torch.allclose(loss.d_real(t(0.0, LN3)), t(math.log(2), math.log(4 / 3)))  # -log D
    assert torch.allclose(loss.d_fake(t(0.0, LN3)), t(math.log(2), math.log(4)))  # -log(1 - D)
    assert torch.allclose(loss.g(t(0.0, LN3)), t(math.log(2), math.log(4 / 3)))  # -log D(G(z))


def test_minimax_generator_saturates():
    loss = get_loss("minimax")
    assert torch.allclose(loss.g(t(0.0, LN3)), t(-math.log(2), -math.log(4)))  # log(1 - D)
    assert torch.allclose(loss.d_real(t(LN3)), t(math.log(4 / 3)))
    # The saturating gradient vanishes where D(G(z)) -> 0 (ℓ -> -inf); the non-saturating one does not.
    x = t(-10.0).requires_grad_()
    loss.g(x).sum().backward()
    assert abs(x.grad.item()) < 1e-4
    y = t(-10.0).requires_grad_()
    get_loss("nonsaturating").g(y).sum().backward()
    assert y.grad.item() == pytest.approx(-1.0, abs=1e-4)


def test_wasserstein_terms():
    loss = get_loss("wasserstein")
    f = t(1.5, -2.0)
    assert torch.equal(loss.d_real(f), t(-1.5, 2.0))
    assert torch.equal(loss.d_fake(f), f)
    assert torch.equal(loss.g(f), t(-1.5, 2.0))


def test_terms_are_per_sample_and_stable_at_extreme_logits():
    for loss in LOSSES.values():
        s = t(-1e4, 0.0, 1e4)
        for term in (loss.d_real, loss.d_fake, loss.g):
            out = term(s)
            assert out.shape == (3,)
            assert torch.isfinite(out).all()


def test_unknown_loss_lists_allowed():
    with pytest.raises(ModeganError, match="allowed: minimax, nonsaturating, wasserstein, hinge, least_squares"):
        get_loss("logistic")


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w


class Norm(nn.Module):
    """D(x) = ‖x‖: its input gradient x/‖x‖ has unit norm everywhere but at 0."""

    def forward(self, x):
        return x.norm(dim=1)


def _batch(n=64, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) + 5,
            torch.randn(n, d, generator=g, dtype=torch.float64) - 5)


def test_gradient_penalty_zero_for_unit_gradient_critics():
    real, fake = _batch()
    g = torch.Generator().manual_seed(1)
    assert gradient_penalty(Linear([0.6, 0.8, 0.0]), real, fake, g).abs().max() < 1e-12
    assert gradient_penalty(Norm(), real, fake, g).abs().max() < 1e-12


def test_gradient_penalty_known_value_for_scaled_critic():
    real, fake = _batch()
    g = torch.Generator().manual_seed(1)
    # ‖∇‖ = 3 · 1 = 3 at every x̂, so each per-sample penalty is (3 - 1)² = 4.
    gp = gradient_penalty(Linear([1.8, 2.4, 0.0]), real, fake, g)
    assert gp.shape == (64,)
    assert torch.allclose(gp, torch.full_like(gp, 4.0))
    # One-sided center: center 0 gives ‖∇‖² = 9.
    assert torch.allclose(gradient_penalty(Linear([1.8, 2.4, 0.0]), real, fake, g, center=0.0),
                          torch.full_like(gp, 9.0))


def test_gradient_penalty_gradient_reaches_critic_parameters():
    real, fake = _batch()
    critic = Linear([1.8, 2.4, 0.0])
    gradient_penalty(critic, real, fake, torch.Generator().manual_seed(1)).mean().backward()
    # d/dw (‖w‖ - 1)² = 2 (‖w‖ - 1) w / ‖w‖ = 2 · 2 · w / 3
    assert torch.allclose(critic.w.grad, t(1.8, 2.4, 0.0) * 4 / 3)


def test_gradient_penalty_evaluates_at_interpolates():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return x.sum(1)

    real = torch.zeros(500, 2, dtype=torch.float64)
    fake = torch.ones(500, 2, dtype=torch.float64)
    gradient_penalty(Spy(), real, fake, torch.Generator().manual_seed(0))
    x_hat = seen[0]
    # x̂ = ε·0 + (1 - ε)·1: both coordinates share one ε per example, spread over [0, 1].
    assert torch.equal(x_hat[:, 0], x_hat[:, 1])
    assert 0 <= x_hat.min() and x_hat.max() <= 1
    assert x_hat.std() > 0.25  # U[0, 1] has std 0.289


def test_clipping_bounds_and_leaves_small_weights():
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.linspace(-1, 1, 12).reshape(3, 4))
        net.bias.copy_(torch.tensor([0.005, -0.2, 0.3]))
    clip_weights_(net, 0.01)
    for p in net.parameters():
        assert p.abs().max() <= 0.01
    assert net.bias[0].item() == pytest.approx(0.005)
    assert net.bias[1].item() == pytest.approx(-0.01)
    assert net.weight[0, 0].item() == pytest.approx(-0.01)


# --- ‖∇ₓD‖ at real, generated and interpolated inputs (issue 18 §5) ------------------------------------------


def test_input_gradient_norms_of_a_linear_critic_are_its_weight_norm():
    from modegan.losses.constraints import input_gradient_norms

    critic = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[3.0, -4.0]]))  # ‖∇ₓ(w·x + b)‖ = ‖w‖ = 5 everywhere
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    out = input_gradient_norms(critic, real, fake, g)
    for where in ("real", "fake", "interp"):
        assert out[where]["mean"] == pytest.approx(5.0) and out[where]["max"] == pytest.approx(5.0)
    assert critic[0].weight.grad is None  # the run's gradients are untouched


def test_input_gradient_norms_of_a_packed_critic_are_per_pack():
    from modegan.losses.constraints import input_gradient_norms
    from modegan.nets.packing import PackedDiscriminator

    inner = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Flatten(0))
    with torch.no_grad():
        inner[0].weight.copy_(torch.tensor([[1.0, 2.0, 2.0, 4.0]]))  # one pack of 2 samples: ‖w‖ = 5
    g = torch.Generator().manual_seed(1)
    out = input_gradient_norms(PackedDiscriminator(inner, 2), torch.randn(8, 2, generator=g),
                               torch.randn(8, 2, generator=g), g, group=2)
    assert out["interp"] == {"mean": pytest.approx(5.0), "max": pytest.approx(5.0)}


def test_input_gradient_norms_leave_batch_norm_and_spectral_norm_state_as_it_was():
    from modegan.losses.constraints import input_gradient_norms
    from modegan.nets.mlp import MLPDiscriminator

    torch.manual_seed(0)
    for kw in ({"norm": "batch"}, {"spectral_norm": True}):
        D = MLPDiscriminator(2, width=8, **kw)
        before = {k: b.clone() for k, b in D.named_buffers()}
        assert before
        g = torch.Generator().manual_seed(2)
        out = input_gradient_norms(D, torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g), g)
        assert all(torch.equal(b, before[k]) for k, b in D.named_buffers())
        assert all(v["max"] >= v["mean"] > 0 for v in out.values())
