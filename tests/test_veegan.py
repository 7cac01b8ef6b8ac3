"""VEEGAN: hand-computed loss values, network shapes, and which network each loss trains."""

import math

import pytest
import torch

from modegan.errors import ModeganError
from modegan.losses.veegan import (
    reconstruction_error,
    veegan_d_loss,
    veegan_d_terms,
    veegan_f_loss,
    veegan_g_loss,
    veegan_g_terms,
    veegan_reconstruction,
)
from modegan.nets.mlp import MLPGenerator
from modegan.nets.veegan import JointDiscriminator, Reconstructor

LN3 = math.log(3.0)


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


def test_d_loss_by_hand():
    # Generator pairs are class 1: −log σ(0) = ln 2, −log σ(ln 3) = −log(3/4) = ln(4/3).
    # Reconstructor pairs are class 0: −log(1 − σ(0)) = ln 2, −log(1 − σ(ln 3)) = −log(1/4) = ln 4.
    gen, real = veegan_d_terms(t(0.0, LN3), t(0.0, LN3))
    assert torch.allclose(gen, t(math.log(2), math.log(4 / 3)))
    assert torch.allclose(real, t(math.log(2), math.log(4)))
    expected = (math.log(2) + math.log(4 / 3)) / 2 + (math.log(2) + math.log(4)) / 2
    assert veegan_d_loss(t(0.0, LN3), t(0.0, LN3)).item() == pytest.approx(expected)
    # Sign check: D is rewarded for a high logit on generator pairs and a low one on reconstructor pairs.
    assert veegan_d_loss(t(5.0), t(-5.0)) < veegan_d_loss(t(-5.0), t(5.0))
    assert torch.isfinite(veegan_d_loss(t(-1e4, 1e4), t(-1e4, 1e4)))


def test_reconstruction_is_squared_l2_summed_over_dims_and_averaged_over_batch():
    z = t(1.0, 2.0, 0.0, 0.0).view(2, 2)
    z_rec = t(0.0, 0.0, 3.0, 4.0).view(2, 2)
    assert torch.equal(reconstruction_error(z, z_rec), t(5.0, 25.0))  # 1 + 4, 9 + 16
    assert veegan_reconstruction(z, z_rec).item() == 15.0
    assert veegan_f_loss(z, z_rec).item() == 15.0


def test_g_loss_is_raw_logit_plus_reconstruction():
    z = t(1.0, 2.0, 0.0, 0.0).view(2, 2)
    z_rec = t(0.0, 0.0, 3.0, 4.0).view(2, 2)
    logits = t(0.5, -1.5)
    assert torch.equal(veegan_g_terms(logits, z, z_rec), t(5.5, 23.5))
    assert veegan_g_loss(logits, z, z_rec).item() == 14.5


def test_network_shapes():
    F = Reconstructor(2, 5)
    D = JointDiscriminator(5, 2)
    x, z = torch.randn(7, 2), torch.randn(7, 5)
    assert F(x).shape == (7, 5)
    assert D(z, x).shape == (7,)
    linears = [m for m in D.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 128), (128, 128), (128, 1)]
    assert [m.out_features for m in F.net if isinstance(m, torch.nn.Linear)] == [128, 128, 5]
    sn = JointDiscriminator(5, 2, width=16, depth=1, spectral_norm=True)
    assert hasattr(sn.net[0], "parametrizations")
    with pytest.raises(ModeganError, match="as many z as x; got 6 and 7"):
        D(z[:6], x)


def nets():
    torch.manual_seed(0)
    G = MLPGenerator(2, 2, width=16, depth=2)
    F = Reconstructor(2, 2, width=16, depth=2)
    D = JointDiscriminator(2, 2, width=16, depth=2)
    return G, F, D, torch.randn(32, 2), torch.randn(32, 2)


def grads_of(module):
    return [p.grad for p in module.parameters()]


def nonzero(grads):
    return all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_generator_loss_reaches_g_through_both_terms():
    G, F, D, z, _ = nets()
    x_g = G(z)
    d_gen, z_rec = D(z, x_g), F(x_g)
    params = list(G.parameters())
    assert nonzero(torch.autograd.grad(d_gen.mean(), params, retain_graph=True))
    assert nonzero(torch.autograd.grad(veegan_reconstruction(z, z_rec), params, retain_graph=True))
    veegan_g_loss(d_gen, z, z_rec).backward(inputs=params)
    assert nonzero(grads_of(G))
    assert all(g is None for g in grads_of(F) + grads_of(D))


def test_reconstructor_loss_trains_f_only():
    G, F, D, z, _ = nets()
    veegan_f_loss(z, F(G(z).detach())).backward()
    assert nonzero(grads_of(F))
    assert all(g is None for g in grads_of(G) + grads_of(D))


def test_discriminator_loss_trains_d_only():
    G, F, D, z, x = nets()
    veegan_d_loss(D(z, G(z).detach()), D(F(x).detach(), x)).backward()
    assert nonzero(grads_of(D))
    assert all(g is None for g in grads_of(G) + grads_of(F))
