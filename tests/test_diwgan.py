"""DIWGAN (methods.md §3): pairing, the frozen auto-encoder, both weight vectors, resumable state, phase 0."""

import io
import itertools
import math

import numpy as np
import pytest
import torch

from modegan.errors import ModeganError
from modegan.nets.autoencoder import IdentityEncoder, MLPAutoencoder, freeze, pretrain_autoencoder
from modegan.nets.mlp import MLPGenerator
from modegan.weighting import DualImportanceLoss, GaussianKDE, build_diwgan, normalise, pair, select_targets
from modegan.weighting import diwgan as dw
from modegan.weighting.diwgan import AE_FILE


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ring(n, seed, modes=8, std=0.05):
    g = gen(seed)
    k = torch.randint(modes, (n,), generator=g).double()
    angle = 2 * math.pi * k / 8
    pts = torch.stack([2 * torch.cos(angle), 2 * torch.sin(angle)], 1)
    return (pts + std * torch.randn(n, 2, generator=g, dtype=torch.float64)).float()


# --- pairing -------------------------------------------------------------------------------------------------


def brute_force(cost):
    m, b = cost.shape
    if m <= b:
        return min(sum(cost[i, j] for i, j in enumerate(p)) for p in itertools.permutations(range(b), m))
    return min(sum(cost[i, j] for j, i in enumerate(p)) for p in itertools.permutations(range(m), b))


@pytest.mark.parametrize("solver", ["auto", "lapjv", "lsa", "simplex"])
def test_pairing_equals_brute_force(solver):
    shapes = [(n, n) for n in range(1, 8)] + [(3, 5), (5, 3), (2, 7), (7, 4), (1, 6)]
    for seed, (m, b) in itertools.product(range(3), shapes):
        rng = np.random.default_rng(100 * seed + 10 * m + b)
        euclidean = np.linalg.norm(rng.normal(size=(m, 1, 2)) - rng.normal(size=(1, b, 2)), axis=2)
        for cost in (rng.random((m, b)), euclidean):
            rows, cols = pair(cost, solver)
            assert len(rows) == min(m, b)
            assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
            assert list(rows) == sorted(rows)
            assert cost[rows, cols].sum() == pytest.approx(brute_force(cost), rel=1e-12, abs=1e-12)


def test_large_pairings_agree_between_solvers():
    rng = np.random.default_rng(1)
    targets = rng.normal(size=(160, 2))
    for codes in (rng.normal(size=(160, 2)), 0.05 * rng.normal(size=(160, 2)) + 3.0):
        cost = np.linalg.norm(targets[:, None] - codes[None], axis=2)
        totals = [cost[pair(cost, s)].sum() for s in ("auto", "lapjv", "lsa", "simplex")]
        assert totals == pytest.approx([totals[2]] * 4, rel=1e-12)
        # distinct costs have one optimal pairing: Jonker-Volgenant and scipy return the same pairs
        assert all(np.array_equal(a, b) for a, b in zip(pair(cost, "lapjv"), pair(cost, "lsa"), strict=True))


def test_a_collapsed_generator_is_paired_by_the_simplex(monkeypatch):
    """DIWGAN's step takes the simplex while the codes are bunched (spread ratio < 0.5), lapjv otherwise; the
    same optimal pairs either way."""
    calls = []
    real = dw._simplex_pairs
    monkeypatch.setattr(dw, "_simplex_pairs", lambda cost: calls.append(cost.shape) or real(cost))
    targets = ring(24, 0)
    for spread, expected in ((0.02, [(24, 24)]), (1.0, [])):
        calls.clear()
        x = ring(24, 1, std=0.05) * spread
        value, _ = DualImportanceLoss(IdentityEncoder(2), targets)(x)
        assert calls == expected
        cost = torch.cdist(targets.double(), x.double()).numpy()
        rows, cols = pair(cost, "lsa")
        assert value.item() == pytest.approx(float(np.sqrt(cost[rows, cols] ** 2 + 1e-8).mean()), rel=1e-6)


def test_pairing_rejects_bad_costs():
    with pytest.raises(ModeganError, match="not finite"):
        pair(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ModeganError, match="2-D"):
        pair(np.zeros(3))
    with pytest.raises(ModeganError, match="solver"):
        pair(np.zeros((2, 2)), "hungarian")


# --- the auto-encoder ----------------------------------------------------------------------------------------


def test_autoencoder_pretraining_reduces_reconstruction_error():
    data = ring(1000, 0)
    torch.manual_seed(0)
    ae = MLPAutoencoder(2, latent_dim=2, hidden=64)
    assert ae.encode(data).shape == (1000, 2) and ae(data).shape == (1000, 2)
    with torch.no_grad():
        before = float(((ae(data) - data) ** 2).mean())
    mse = pretrain_autoencoder(ae, data, steps=200, batch_size=64, generator=gen(1))
    assert mse < 0.05 < before
    with torch.no_grad():
        assert mse == pytest.approx(float(((ae(data) - data) ** 2).mean()), rel=1e-5)
    torch.manual_seed(0)
    ae2 = MLPAutoencoder(2, latent_dim=2, hidden=64)
    assert pretrain_autoencoder(ae2, data, steps=200, batch_size=64, generator=gen(1)) == mse


def test_freeze_fixes_parameters_but_passes_gradients_to_inputs():
    ae = freeze(MLPAutoencoder(2, latent_dim=2))
    assert not ae.training and all(not p.requires_grad for p in ae.parameters())
    x = torch.randn(5, 2, requires_grad=True)
    ae.encode(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in ae.parameters())
    ident = IdentityEncoder(3)
    assert ident.latent_dim == 3 and list(ident.parameters()) == []
    assert torch.equal(ident.encode(x.detach()), x.detach())


def test_frozen_autoencoder_never_changes_while_the_generator_trains():
    data = ring(1000, 1)
    torch.manual_seed(1)
    ae = MLPAutoencoder(2, latent_dim=2, hidden=32)
    pretrain_autoencoder(ae, data, steps=100, batch_size=64, generator=gen(2))
    freeze(ae)
    before = {k: v.clone() for k, v in ae.state_dict().items()}
    with torch.no_grad():
        targets = ae.encode(data[:32])
    loss = DualImportanceLoss(ae.encoder, targets, n_history=3)
    G = MLPGenerator(2, 2, width=32, depth=2)
    opt = torch.optim.Adam([*G.parameters(), *ae.parameters()], lr=1e-3)  # even an optimiser that holds them
    g = gen(3)
    for _ in range(12):
        value, diag = loss(G(G.sample_z(32, g)))
        opt.zero_grad(set_to_none=True)
        value.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
        assert all(p.grad is None for p in ae.parameters())
        opt.step()
    assert all(torch.equal(before[k], v) for k, v in ae.state_dict().items())
    assert "encoder" not in "".join(loss.state_dict())


# --- the two weight vectors ------------------------------------------------------------------------------------


def _far_target_run(steps=8, **kw):
    """Targets at the origin and at (10, 10); every generated batch sits near the origin."""
    loss = DualImportanceLoss(IdentityEncoder(2), torch.tensor([[0.0, 0.0], [10.0, 10.0]]), n_history=5, **kw)
    g = gen(7)
    weights, batches = [], []
    for _ in range(steps):
        weights.append(loss.target_weights())
        batches.append(0.1 * torch.randn(8, 2, generator=g))
        loss(batches[-1])
    weights.append(loss.target_weights())
    return torch.stack(weights), batches


def test_a_target_far_from_every_sample_gets_a_rising_weight():
    w, batches = _far_target_run()
    assert torch.equal(w[0], torch.ones(2))  # no history yet
    assert torch.allclose(w.mean(1), torch.ones(len(w)))
    far = w[:, 1]
    assert (w[1:].argmax(1) == 1).all() and (far[1:] > 1).all()
    assert (far[1:6].diff() > 0.15).all()  # rises while the window of N = 5 fills
    assert torch.allclose(far[5:], far[5].expand(4), atol=0.01)  # then stays (same geometry every step)
    # By hand after one step: d̄ = paired distances; window 1/5 full -> w = 4/5 + 1/5 · d̄/mean(d̄).
    x = batches[0].double()
    d_near = x.norm(dim=1).min()  # the near target pairs with its nearest sample, the far one with its nearest
    d_far = (x - torch.tensor([10.0, 10.0], dtype=torch.float64)).norm(dim=1)
    cost = torch.stack([x.norm(dim=1), d_far]).numpy()
    rows, cols = pair(cost)
    d = torch.from_numpy(cost[rows, cols])
    assert d[0] <= d_near + 0.2  # sanity: the near target is paired close by
    expected = 0.8 + 0.2 * d / d.mean()
    assert torch.allclose(w[1], (expected / expected.mean()).float(), rtol=1e-5)
    assert far[5] == pytest.approx(float(2 * 14.14 / (14.14 + 0.1)), abs=0.02)


@pytest.mark.parametrize("kw", [dict(ema=True), dict(target_stat="nearest")])
def test_far_target_weight_rises_with_ema_and_nearest(kw):
    w, _ = _far_target_run(steps=10, **kw)
    far = w[:, 1]
    assert (w[1:].argmax(1) == 1).all()
    if kw.get("ema"):
        assert (far[1:].diff() > 0).all()  # the EMA fills asymptotically
    else:
        assert (far[1:6].diff() > 0.15).all()


@pytest.mark.parametrize("stat, expected", [("paired", (0.1 / 2.05, 4.0 / 2.05)), ("nearest", (0.2, 1.8))])
def test_target_statistic_paired_or_nearest_by_hand(stat, expected):
    # Targets (0,0), (1,0); samples (0.1,0), (5,0). Optimal pairing: (0,0)-(0.1,0) and (1,0)-(5,0), total 4.1.
    # Paired distances 0.1 and 4; nearest distances 0.1 and 0.9. With N = 1 the window is full after one step.
    loss = DualImportanceLoss(IdentityEncoder(2), torch.tensor([[0.0, 0.0], [1.0, 0.0]]), n_history=1,
                              target_stat=stat)
    loss(torch.tensor([[0.1, 0.0], [5.0, 0.0]]))
    assert torch.allclose(loss.target_weights(), torch.tensor(expected), rtol=1e-6)


def test_generator_weights_are_one_until_the_buffer_is_full_and_exclude_the_current_batch():
    n, b = 3, 16
    targets = torch.randn(b, 2, generator=gen(0))
    loss = DualImportanceLoss(IdentityEncoder(2), targets, n_history=n)
    g = gen(1)
    batches = [torch.randn(b, 2, generator=g) * torch.tensor([1.0, 2.0]) for _ in range(6)]
    for step, x in enumerate(batches):
        w_r = loss.target_weights()
        w_g = loss.generator_weights(x)
        if step < n:
            assert torch.equal(w_g, torch.ones(b))
        else:
            history = torch.cat(batches[step - n : step]).double()
            expected = normalise(GaussianKDE(history).log_pdf(x.double())).float()
            assert torch.allclose(w_g, expected, rtol=1e-4)
            with_current = normalise(GaussianKDE(torch.cat([history, x.double()])).log_pdf(x.double())).float()
            assert not torch.allclose(w_g, with_current, rtol=1e-2)
        x_in = x.clone().requires_grad_()
        value, diag = loss(x_in)
        value.backward()
        assert diag["ess_gen"].item() == pytest.approx(b if step < n else float((w_g.sum() ** 2) / (w_g**2).sum()))
        # D_a and its gradient by hand (autograd) from the same pairing and weights (§3.2 5f).
        cost = torch.cdist(targets.double(), x.double()).numpy()
        rows, cols = (torch.from_numpy(i) for i in pair(cost))
        dist = torch.from_numpy(cost[rows, cols]).float()
        x_hand = x.clone().requires_grad_()
        diff = targets[rows] - x_hand[cols]
        by_hand = (w_r[rows] * w_g[cols] * torch.sqrt((diff * diff).sum(1) + 1e-8)).mean()
        by_hand.backward()
        torch.testing.assert_close(x_in.grad, x_hand.grad, rtol=1e-4, atol=1e-7)
        assert value.item() == pytest.approx(by_hand.item(), rel=1e-5)
        assert diag["d_a"].item() == pytest.approx(by_hand.item(), rel=1e-5)
        assert diag["mean_paired_distance"].item() == pytest.approx(dist.mean().item(), rel=1e-5)
        assert diag["targets_above_mean"].item() == int((w_r > w_r.mean()).sum())


def test_loss_is_differentiable_and_scaled_by_alpha():
    targets = ring(16, 3)
    x = ring(16, 4).requires_grad_()
    one, _ = DualImportanceLoss(IdentityEncoder(2), targets)(x)
    three, _ = DualImportanceLoss(IdentityEncoder(2), targets, alpha=3.0)(x)
    assert three.item() == pytest.approx(3 * one.item())
    one.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pairing_started_in_the_background_gives_the_same_loss_state_and_gradient():
    """`begin` (the trainer's head start) and the plain call compute the same step, weights and history."""
    targets = ring(32, 3)
    a = DualImportanceLoss(IdentityEncoder(2), targets, n_history=2)
    b = DualImportanceLoss(IdentityEncoder(2), targets, n_history=2)
    for i in range(5):  # past the history fill, so the generator weights are live
        xa = ring(32, 40 + i, std=0.4).requires_grad_()
        xb = xa.detach().clone().requires_grad_()
        la, da = a(xa, a.begin(xa))
        lb, db = b(xb)
        assert torch.equal(la, lb) and all(torch.equal(da[k], db[k]) for k in da)
        la.backward()
        lb.backward()
        assert torch.equal(xa.grad, xb.grad)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert float(da["ess_gen"]) < 32  # non-uniform generator weights were in play


def test_background_pairing_errors_reach_the_caller():
    loss = DualImportanceLoss(IdentityEncoder(2), ring(8, 3))
    x = ring(8, 4)
    x[0, 0] = float("nan")
    with pytest.raises(ModeganError, match="not finite"):
        loss(x, loss.begin(x))


@pytest.mark.parametrize("m", [5, 24])
def test_rectangular_targets(m):
    loss = DualImportanceLoss(IdentityEncoder(2), ring(m, 5), n_history=2)
    for seed in range(4):
        _, diag = loss(ring(12, 10 + seed))
    w = loss.target_weights()
    assert w.shape == (m,) and w.mean().item() == pytest.approx(1.0)
    assert int(loss.dist_count.sum()) == 4 * min(m, 12)


# --- resumable state ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(), dict(ema=True), dict(target_stat="nearest")])
def test_state_dict_round_trip_continues_exactly(kw):
    enc = IdentityEncoder(2)
    a = DualImportanceLoss(enc, ring(16, 0), n_history=4, **kw)
    inputs = [ring(16, 100 + i, std=0.3) for i in range(10)]
    for x in inputs[:7]:
        a(x)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = DualImportanceLoss(enc, ring(16, 1), n_history=4, **kw)  # fresh: other targets, no gen buffer yet
    b.load_state_dict(torch.load(buf, weights_only=True))
    for x in inputs[7:]:
        va, da = a(x)
        vb, db = b(x)
        assert torch.equal(va, vb)
        assert all(torch.equal(da[k], db[k]) for k in da)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert set(sa) == {"targets", "gen_buffer", "gen_fill", "gen_pos", "dist_ring", "dist_ema", "dist_count", "steps"}


def test_state_stays_on_the_host_in_float32_or_float64():
    loss = DualImportanceLoss(IdentityEncoder(2), ring(8, 0))
    loss(ring(8, 1))
    assert loss.double().dist_ring.dtype == torch.float64 and loss.targets.dtype == torch.float64
    loss(ring(8, 2).double())
    assert loss.half().gen_buffer.dtype == torch.float32  # numpy has no bfloat16, the KDE is float32
    assert {b.device.type for b in loss.buffers()} == {"cpu"} and int(loss.steps) == 2


def test_loading_the_kernels_leaves_the_state_alone():
    loss = DualImportanceLoss(IdentityEncoder(2), ring(80, 0), n_history=3)
    for i in range(4):
        loss(ring(100, 1 + i))
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    loss.load_kernels()
    assert all(torch.equal(v, loss.state_dict()[k]) for k, v in before.items())


# --- phase 0 -------------------------------------------------------------------------------------------------------


def test_select_targets_methods():
    centres = torch.tensor([[-5.0, -5.0], [-5.0, 5.0], [5.0, -5.0], [5.0, 5.0]])
    codes = centres.repeat(250, 1) + 0.1 * torch.randn(1000, 2, generator=gen(0))
    km = select_targets(codes, 4, "kmeans", generator=gen(1))
    assert torch.cdist(km, centres).min(0).values.max() < 0.05  # one centre per cluster
    sub = select_targets(codes, 10, "subsample", generator=gen(2))
    assert len({tuple(r.tolist()) for r in sub}) == 10
    assert all((codes == r).all(1).any() for r in sub)
    kde = select_targets(codes, 300, "kde_resample", generator=gen(3))
    assert kde.shape == (300, 2) and kde.dtype == torch.float32
    # Scott's kernel uses the global covariance (std 5 here) × 1000^(-1/6): kernel std ≈ 1.6, so draws spread
    # around the clusters (median distance σ·√(2 ln 2) ≈ 1.9) but every cluster gets its share.
    nearest = torch.cdist(kde, centres).min(1)
    assert 1.3 < nearest.values.median() < 2.5
    assert torch.bincount(nearest.indices, minlength=4).min() > 45
    assert torch.equal(kde, select_targets(codes, 300, "kde_resample", generator=gen(3)))


def test_select_targets_bad_input():
    codes = torch.randn(20, 2, generator=gen(0))
    with pytest.raises(ModeganError, match="target selection 'random'"):
        select_targets(codes, 4, "random", generator=gen(0))
    with pytest.raises(ModeganError, match="positive integer"):
        select_targets(codes, 0, "kmeans", generator=gen(0))
    with pytest.raises(ModeganError, match="cannot choose 30"):
        select_targets(codes, 30, "subsample", generator=gen(0))
    with pytest.raises(ModeganError, match="bandwidth"):
        select_targets(codes, 3, "kde_resample", bw_method="wide", generator=gen(0))


def test_build_diwgan_identity():
    data = ring(500, 2)
    loss = build_diwgan(data, latent="identity", n_targets=32, generator=gen(0), n_history=4)
    assert loss.ae_mse == 0.0 and isinstance(loss.encoder, IdentityEncoder)
    assert loss.targets.shape == (32, 2) and loss.n_history == 4
    value, _ = loss(ring(32, 3))
    assert value.item() > 0


def test_build_diwgan_caches_the_autoencoder(tmp_path):
    data = ring(2000, 4)
    kw = dict(latent="mlp", ae_steps=150, batch_size=64, n_targets=16, targets="kmeans", cache_dir=tmp_path)
    g1 = gen(5)
    first = build_diwgan(data, generator=g1, **kw)
    path = tmp_path / AE_FILE
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    assert 0 < first.ae_mse < 0.5
    stamp = path.stat().st_mtime_ns
    g2 = gen(5)
    second = build_diwgan(data, generator=g2, **kw)  # loaded, not retrained
    assert path.stat().st_mtime_ns == stamp
    assert second.ae_mse == first.ae_mse
    assert torch.equal(second.targets, first.targets)
    assert torch.equal(second.encoder(data[:50]), first.encoder(data[:50]))
    assert torch.equal(torch.randint(1000, (4,), generator=g1), torch.randint(1000, (4,), generator=g2))
    with pytest.raises(ModeganError, match="other settings \\(steps\\)"):
        build_diwgan(data, generator=gen(5), **{**kw, "ae_steps": 151})


def test_bad_input():
    enc, targets = IdentityEncoder(2), torch.zeros(4, 2)
    with pytest.raises(ModeganError, match="M >= 1"):
        DualImportanceLoss(enc, torch.zeros(0, 2))
    with pytest.raises(ModeganError, match="target_stat 'far'"):
        DualImportanceLoss(enc, targets, target_stat="far")
    with pytest.raises(ModeganError, match="n_history"):
        DualImportanceLoss(enc, targets, n_history=0)
    with pytest.raises(ModeganError, match="alpha"):
        DualImportanceLoss(enc, targets, alpha=-1.0)
    with pytest.raises(ModeganError, match="bandwidth"):
        DualImportanceLoss(enc, targets, bw_method=0.0)
    loss = DualImportanceLoss(enc, targets)
    loss(torch.randn(8, 2))
    with pytest.raises(ModeganError, match="batch size changed from 8 to 9"):
        loss(torch.randn(9, 2))
    with pytest.raises(ModeganError, match=r"shape \(B, 2\)"):
        loss(torch.randn(8, 3))
    with pytest.raises(ModeganError, match="not finite"):
        loss(torch.full((8, 2), float("nan")))
    data = ring(100, 0)
    with pytest.raises(ModeganError, match="DIWGAN loss option 'beta'; allowed: alpha, n_history"):
        build_diwgan(data, latent="identity", n_targets=4, generator=gen(0), beta=1.0)
    with pytest.raises(ModeganError, match="latent 'conv'"):
        build_diwgan(data, latent="conv", n_targets=4, generator=gen(0))
    with pytest.raises(ModeganError, match="target selection 'best'"):
        build_diwgan(data, latent="identity", n_targets=4, targets="best", generator=gen(0))
    with pytest.raises(ModeganError, match="positive integer"):
        build_diwgan(data, latent="identity", n_targets=0, generator=gen(0))
