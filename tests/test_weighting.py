"""Per-sample weights (methods.md §1) and the torch Gaussian KDE, against hand-computed values and scipy."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from modegan.errors import ModeganError
from modegan.losses import get_loss
from modegan.weighting import (
    GaussianKDE,
    SampleWeighting,
    SingularCovarianceError,
    bandwidth_factor,
    combine,
    density_ratio,
    distance,
    ess,
    fixed,
    hard,
    max_over_mean,
    normalise,
    top_k,
    top_k_rate,
)

LN3 = math.log(3.0)


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


# --- the IWGAN gradient identity (methods.md §1.1, derived) -------------------------------------------


def _tiny_gan():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    for p in D.parameters():
        p.requires_grad_(False)
    D[2].weight.mul_(6.0)  # logits spread over several units, so D_i differ a lot between samples
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    return G, lambda: D(G(z)).squeeze(-1)


def _grads(G, loss):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(G.parameters()))])


def test_iwgan_gradient_is_saturating_gradient_times_one_batch_scalar():
    G, logits = _tiny_gan()
    ell = logits()
    # Hu et al. Eq. 16: Σ_i w̃_i ∇ log D(G(z_i)), w̃ = softmax of the detached logits.
    iw = _grads(G, (torch.softmax(ell.detach(), 0) * F.softplus(-ell)).sum())
    # Derived: w·∇log D = D·∇ℓ, so it equals Σ_i D_i·(−ℓ_i) / Σ_j w_j with D_i, Σ_j w_j held constant.
    ell = logits()
    d, w_sum = torch.sigmoid(ell).detach(), torch.exp(ell).sum().detach()
    direct = _grads(G, (d * -ell).sum() / w_sum)
    assert torch.allclose(iw, direct, rtol=1e-10, atol=1e-12)
    # ... which is the saturating (minimax) generator gradient scaled by 1/Σ_j w_j.
    ell = logits()
    saturating = _grads(G, get_loss("minimax").g(ell).sum())
    assert torch.allclose(iw, saturating / torch.exp(ell).sum().detach(), rtol=1e-10, atol=1e-12)
    # The non-saturating gradient points elsewhere: the identity is not trivially true.
    ns = _grads(G, get_loss("nonsaturating").g(logits()).sum())
    assert torch.nn.functional.cosine_similarity(iw, ns, dim=0) < 0.99


def test_iwgan_mean_one_convention_is_the_same_loss():
    # (w * loss).mean() with w = B·softmax equals Σ softmax·loss: the factor B from the weights cancels the
    # 1/B of the mean, so the gradient is identical (factor 1), not B times larger.
    G, logits = _tiny_gan()
    ell = logits()
    hu = _grads(G, (torch.softmax(ell.detach(), 0) * F.softplus(-ell)).sum())
    ell = logits()
    ours = _grads(G, (density_ratio(ell) * get_loss("nonsaturating").g(ell)).mean())
    assert torch.allclose(hu, ours, rtol=1e-12, atol=1e-14)


# --- the weights ---------------------------------------------------------------------------------------


def test_normalise_has_mean_one_and_ignores_constant_shift():
    log_w = t(0.3, -1.2, 2.0, 0.0)
    w = normalise(log_w)
    assert w.mean().item() == pytest.approx(1.0)
    assert torch.allclose(normalise(log_w + 123.4), w)
    assert torch.allclose(w, 4 * torch.exp(log_w) / torch.exp(log_w).sum())


def test_density_ratio_is_exp_logit_normalised_and_stable():
    ell = t(0.0, LN3, -LN3)  # D = 1/2, 3/4, 1/4 -> D/(1-D) = 1, 3, 1/3
    w = density_ratio(ell)
    assert torch.allclose(w, 3 * t(1.0, 3.0, 1 / 3) / (13 / 3))
    assert torch.allclose(density_ratio(ell + 1000.0), w)  # D/(1-D) would overflow
    assert torch.allclose(density_ratio(ell, temperature=2.0), normalise(ell / 2))


def test_density_ratio_detached_unless_asked():
    ell = t(0.5, -0.2, 1.0).requires_grad_()
    assert not density_ratio(ell).requires_grad
    w = density_ratio(ell, detach=False)  # KL-WGAN: the gradient flows through the ratio
    assert w.requires_grad
    (w * ell).mean().backward()
    assert ell.grad is not None and ell.grad.abs().sum() > 0


def test_hard_weights_are_inverse_discriminator_output():
    ell = t(0.0, LN3, -LN3).requires_grad_()  # D = 1/2, 3/4, 1/4
    ns = get_loss("nonsaturating")
    w = hard(ns.d_real(ell))  # real term -log D -> w ∝ 1/D = 2, 4/3, 4 (sum 22/3)
    assert not w.requires_grad
    assert torch.allclose(w, t(9 / 11, 6 / 11, 18 / 11))
    w_fake = hard(ns.d_fake(ell))  # fake term -log(1-D) -> w ∝ 1/(1-D) = 2, 4, 4/3
    assert torch.allclose(w_fake, t(9 / 11, 18 / 11, 6 / 11))
    assert torch.allclose(hard(ns.g(ell)), w)  # NS generator term -log D(G(z)) -> 1/D(G(z))
    assert torch.allclose(hard(ns.d_real(ell), temperature=1e6), torch.ones(3, dtype=torch.float64))


def test_top_k_keeps_the_k_highest():
    scores = t(0.1, 3.0, -1.0, 2.0, 5.0)
    w = top_k(scores, 0.6)  # k = int(0.6 * 5) = 3: indices 4, 1, 3
    assert torch.allclose(w, t(0, 5 / 3, 0, 5 / 3, 5 / 3))
    assert w.mean().item() == pytest.approx(1.0)
    assert torch.equal(top_k(scores, 0.01), t(0, 0, 0, 0, 5))  # at least one sample is kept
    assert torch.equal(top_k(scores, 1.0), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ModeganError, match="rate"):
        top_k(scores, 0.0)


def test_top_k_rate_schedule():
    assert top_k_rate(0) == 1.0
    assert top_k_rate(1) == pytest.approx(0.99)
    assert top_k_rate(389, every=390) == 1.0
    assert top_k_rate(390, every=390) == pytest.approx(0.99)
    assert top_k_rate(2 * 390 + 5, every=390) == pytest.approx(0.99**2)
    assert top_k_rate(10**6) == 0.5
    assert top_k_rate(3, start=0.8, decay=0.5, min_rate=0.05) == pytest.approx(0.1)
    with pytest.raises(ModeganError):
        top_k_rate(0, every=0)
    with pytest.raises(ModeganError):
        top_k_rate(0, start=0.4, min_rate=0.5)


def test_fixed_iw_and_self_normalised():
    w = t(1.0, 3.0, 4.0)
    assert torch.equal(fixed(w, self_normalised=False), w)
    assert torch.allclose(fixed(w, self_normalised=True), t(3 / 8, 9 / 8, 12 / 8))


def test_ess_and_max_over_mean():
    assert ess(torch.ones(7)).item() == pytest.approx(7.0)
    assert ess(t(0, 0, 5, 0, 0)).item() == pytest.approx(1.0)
    assert ess(t(2.0, 0.0)).item() == pytest.approx(1.0)
    assert ess(t(1.5, 0.5)).item() == pytest.approx(4 / 2.5)
    assert max_over_mean(t(1.5, 0.5)).item() == pytest.approx(1.5)


def test_combine_multiplies_and_renormalises():
    dr = density_ratio(t(0.0, LN3, -LN3, 0.0))  # ∝ 1, 3, 1/3, 1
    tk = top_k(t(0.0, LN3, -LN3, 0.0), 0.5)  # keeps indices 1 and one of the zero-logit ones
    c = combine(dr, tk)
    assert c[2].item() == 0.0
    assert c.mean().item() == pytest.approx(1.0)
    expected = dr * tk
    assert torch.allclose(c, 4 * expected / expected.sum())
    assert torch.allclose(combine(fixed(t(1.0, 3.0), False)), t(0.5, 1.5))  # iw turns into sniw


# --- the dispatcher --------------------------------------------------------------------------------------


def test_sample_weighting_dispatch():
    sw = SampleWeighting(gen=("density_ratio",), disc_real=("hard",), topk=dict(every=390))
    ell = t(0.0, LN3, -LN3)
    ns = get_loss("nonsaturating")
    assert sw.weights("disc_fake", scores=ell, per_sample_loss=ns.d_fake(ell), step=0) is None
    assert torch.allclose(sw.weights("gen", scores=ell, per_sample_loss=ns.g(ell), step=0), density_ratio(ell))
    assert torch.allclose(sw.weights("disc_real", scores=ell, per_sample_loss=ns.d_real(ell), step=0), t(9, 6, 18) / 11)
    diag = sw.last_diagnostics()
    assert set(diag) == {"gen", "disc_real"}
    assert isinstance(diag["gen"]["ess"], float)
    assert diag["gen"]["ess"] == pytest.approx((13 / 3) ** 2 / (1 + 9 + 1 / 9))
    assert diag["disc_real"]["max_over_mean"] == pytest.approx(18 / 11)


def test_sample_weighting_topk_follows_the_schedule_and_combines():
    sw = SampleWeighting(gen=("topk", "density_ratio"), topk=dict(start=1.0, decay=0.5, min_rate=0.25, every=10))
    scores = t(4.0, 3.0, 2.0, 1.0)
    w0 = sw.weights("gen", scores=scores, per_sample_loss=scores, step=9)
    assert torch.allclose(w0, density_ratio(scores))  # rate 1: top-k keeps all
    w1 = sw.weights("gen", scores=scores, per_sample_loss=scores, step=10)  # rate 0.5: keep two
    e = torch.exp(scores[:2])
    assert torch.allclose(w1, torch.cat([4 * e / e.sum(), t(0, 0)]))


def test_sample_weighting_data_weights():
    sw = SampleWeighting(disc_real=("data",))
    ell = t(0.0, 1.0)
    dw = t(0.5, 2.5)
    assert torch.equal(sw.weights("disc_real", scores=ell, per_sample_loss=ell, step=0, data_weights=dw), dw)
    sn = SampleWeighting(disc_real=("data_sn",))
    assert torch.allclose(sn.weights("disc_real", scores=ell, per_sample_loss=ell, step=0, data_weights=dw),
                          t(1 / 3, 5 / 3))
    with pytest.raises(ModeganError, match="data weights"):
        sw.weights("disc_real", scores=ell, per_sample_loss=ell, step=0)


def test_sample_weighting_bad_names():
    with pytest.raises(ModeganError, match="'gen'.*'data'.*density_ratio, hard, topk, distance"):
        SampleWeighting(gen=("data",))
    with pytest.raises(ModeganError, match="'disc_real'.*'density_ratio'"):
        SampleWeighting(disc_real=("density_ratio",))
    with pytest.raises(ModeganError, match="'bogus'"):
        SampleWeighting(disc_fake=("bogus",))
    with pytest.raises(ModeganError, match="role 'critic'; allowed: gen, disc_fake, disc_real"):
        SampleWeighting().weights("critic", scores=t(1.0), per_sample_loss=t(1.0), step=0)
    with pytest.raises(ModeganError, match="temperature"):
        SampleWeighting(temperature=0.0)
    with pytest.raises(ModeganError, match="top-k schedule key"):
        SampleWeighting(topk=dict(rate=0.5))


# --- distance weights ------------------------------------------------------------------------------------

REAL = torch.tensor([[0.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
# Nearest real point: (0, 1) -> (0, 0) at 1; (4, 2) -> (4, 0) at 2; (0, -3) -> (0, 0) at 3 ((4, 0) is at 5).
FAKE = torch.tensor([[0.0, 1.0], [4.0, 2.0], [0.0, -3.0]], dtype=torch.float64)


def test_distance_weights_by_hand():
    # T = 1: w ∝ d = 1, 2, 3 (mean 2) -> 1/2, 1, 3/2.  T = 1/2: w ∝ d² = 1, 4, 9 (mean 14/3) -> 3/14, 12/14, 27/14.
    assert torch.allclose(distance(FAKE, REAL), t(0.5, 1.0, 1.5))
    assert torch.allclose(distance(FAKE, REAL, temperature=0.5), t(3, 12, 27) / 14)
    assert torch.allclose(distance(FAKE, REAL, temperature=1e9), t(1, 1, 1))
    # Scale-free: the same weights in other units.
    assert torch.allclose(distance(100 * FAKE, 100 * REAL), t(0.5, 1.0, 1.5))
    # A sample on a real point gets 0 (the others share the batch's weight); all on the data: uniform.
    on = torch.cat([REAL[:1], FAKE[1:]])
    assert torch.allclose(distance(on, REAL), t(0, 3 * 2 / 5, 3 * 3 / 5))
    assert torch.equal(distance(REAL, REAL), t(1, 1))


def test_distance_weights_are_detached_and_take_images():
    fake = FAKE.clone().requires_grad_(True)
    assert not distance(fake, REAL).requires_grad
    images = FAKE.reshape(3, 1, 1, 2)  # (N, C, H, W): flattened per sample
    assert torch.allclose(distance(images, REAL.reshape(2, 1, 1, 2)), t(0.5, 1.0, 1.5))
    with pytest.raises(ModeganError, match="one sample shape"):
        distance(FAKE, REAL[:, :1])


def test_sample_weighting_distance_needs_both_batches():
    sw = SampleWeighting(gen=("distance", "density_ratio"), temperature=0.5)
    ell = t(0.0, LN3, -LN3)
    w = sw.weights("gen", scores=ell, per_sample_loss=ell, step=0, samples=FAKE, real=REAL)
    # The product renormalised: (d^2 = 1, 4, 9) x (exp(2 ell) = 1, 9, 1/9) -> 1, 36, 1 over mean 38/3.
    assert torch.allclose(w, t(3, 108, 3) / 38)
    with pytest.raises(ModeganError, match="needs the generated and the real batch"):
        sw.weights("gen", scores=ell, per_sample_loss=ell, step=0)
    with pytest.raises(ModeganError, match="packed discriminator"):
        sw.weights("gen", scores=ell[:2], per_sample_loss=ell[:2], step=0, samples=FAKE, real=REAL)


def test_distance_weights_in_training_and_not_stacked(tiny):
    from modegan.config import build_config, merge
    from modegan.data import load_dataset
    from modegan.train.batched import batch_unsupported
    from modegan.train.parts import build_parts
    from modegan.train.steps import train_step

    cfg = build_config(preset="gan", overrides=merge(tiny, {"weighting": {"gen": ["distance"],
                                                                            "disc_fake": ["distance"]}}))
    p = build_parts(cfg, 2)
    out = train_step(p, load_dataset("ring8", n_train=500).train, 64)
    assert torch.isfinite(out["g_loss"]) and set(p.weighting.last_diagnostics()) == {"gen", "disc_fake"}
    assert "distance" in batch_unsupported(cfg)


# --- the Gaussian KDE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("bw", ["scott", "silverman", 0.3])
def test_kde_matches_scipy(d, bw):
    g = torch.Generator().manual_seed(10 * d)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) + 2 * torch.eye(d, dtype=torch.float64)
    data = torch.randn(400, d, generator=g, dtype=torch.float64) @ mix + 3.0
    points = torch.randn(700, d, generator=g, dtype=torch.float64) * 3 + 3.0
    ours = GaussianKDE(data, bw).log_pdf(points).numpy()
    ref = scipy.stats.gaussian_kde(data.numpy().T, bw_method=bw).logpdf(points.numpy().T)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    # float32 data are computed in float64 inside
    ours32 = GaussianKDE(data.float(), bw).log_pdf(points.float()).numpy()
    np.testing.assert_allclose(ours32, ref, rtol=1e-5)


def test_kde_far_from_every_point_matches_scipy():
    """Queries whose kernel sums underflow without a shift (about 12 kernel sds away in float32, 37 in
    float64) take the shifted logsumexp; near ones in the same call do not."""
    g = torch.Generator().manual_seed(5)
    data = torch.randn(300, 2, generator=g, dtype=torch.float64)
    kde = GaussianKDE(data)
    sd = float(kde.covariance[0, 0].sqrt())
    points = torch.tensor([[0.0, 0.0], [5 * sd, 0.0], [20 * sd, 0.0], [0.0, 60 * sd], [1e3, -1e3]], dtype=torch.float64)
    ref = scipy.stats.gaussian_kde(data.numpy().T).logpdf(points.numpy().T)
    assert ref[-1] < -1e6  # really far: every kernel value underflows, even in float64
    np.testing.assert_allclose(kde.log_pdf(points).numpy(), ref, rtol=1e-9)
    ours32 = GaussianKDE(data.float(), dtype=torch.float32).log_pdf(points.float()).double().numpy()
    assert np.isfinite(ours32).all()
    np.testing.assert_allclose(ours32, ref, rtol=1e-4, atol=1e-4)


def test_bandwidth_factor_rules():
    assert bandwidth_factor(100, 2, "scott") == pytest.approx(100 ** (-1 / 6))
    assert bandwidth_factor(100, 3, "silverman") == pytest.approx((100 * 5 / 4) ** (-1 / 7))
    assert bandwidth_factor(100, 3, 0.25) == 0.25
    for bad in ("gauss", -1.0, 0.0, float("nan"), True, None):
        with pytest.raises(ModeganError, match="bandwidth"):
            bandwidth_factor(100, 2, bad)


def test_kde_resample_mean_and_covariance():
    g = torch.Generator().manual_seed(3)
    data = torch.randn(300, 2, generator=g, dtype=torch.float64) @ t(1.0, 0.6, 0.0, 0.5).reshape(2, 2) + t(1.0, -2.0)
    kde = GaussianKDE(data)
    s = kde.resample(40_000, torch.Generator().manual_seed(4))
    assert s.shape == (40_000, 2) and s.dtype == torch.float64
    # A draw is a data point (mean = data mean, covariance = biased data covariance) plus kernel noise.
    centred = data - data.mean(0)
    expected_cov = centred.T @ centred / 300 + kde.covariance
    assert torch.allclose(s.mean(0), data.mean(0), atol=0.03)
    assert torch.allclose(torch.cov(s.T), expected_cov, rtol=0.06, atol=0.02)
    again = kde.resample(40_000, torch.Generator().manual_seed(4))
    assert torch.equal(s, again)
    assert GaussianKDE(data.float()).resample(5, g).dtype == torch.float32


def test_kde_bad_input():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(SingularCovarianceError, match="singular"):
        GaussianKDE(torch.stack([x[:, 0], torch.full((50,), 2.0)], 1))  # constant second coordinate
    with pytest.raises(ModeganError, match="n >= 2"):
        GaussianKDE(x[:1])
    with pytest.raises(ModeganError, match="2-D"):
        GaussianKDE(x[:, 0])
    with pytest.raises(ModeganError, match="bandwidth"):
        GaussianKDE(x, bw_method=-0.5)
    with pytest.raises(ModeganError, match=r"shape \(m, 2\)"):
        GaussianKDE(x).log_pdf(torch.zeros(3, 3))
    with pytest.raises(ModeganError, match="positive integer"):
        GaussianKDE(x).resample(0, torch.Generator())
