"""Unrolled GAN: the functional optimiser step against torch's, and the unrolled gradient against a
hand-written unroll (SGD) and central finite differences (Adam)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from modegan.errors import ModeganError
from modegan.losses import get_loss
from modegan.losses.adversarial import reduce
from modegan.losses.unrolled import functional_optimizer_step, optimizer_state, unrolled_generator_loss
from modegan.nets.mlp import MLPDiscriminator, MLPGenerator

NS = get_loss("nonsaturating")


def tiny(seed=0):
    """D: 2 -> 4 -> 1 and G: 1 -> 3 -> 2, tanh (smooth, for finite differences), float64."""
    torch.manual_seed(seed)
    D = MLPDiscriminator(2, width=4, depth=1, activation="tanh").double()
    G = MLPGenerator(1, 2, width=3, depth=1, activation="tanh").double()
    return D, G


def batches(k, n=8, seed=1):
    rng = torch.Generator().manual_seed(seed)
    reals = [torch.randn(n, 2, generator=rng, dtype=torch.float64) for _ in range(k)]
    zs = [torch.randn(n, 1, generator=rng, dtype=torch.float64) for _ in range(k + 1)]
    return reals, zs


def d_loss(D, real, fake):
    return reduce(NS.d_real(D(real))) + reduce(NS.d_fake(D(fake)))


def warm_up(D, opt, steps, seed=2):
    """A few real optimiser steps so the state is not fresh."""
    rng = torch.Generator().manual_seed(seed)
    p = next(D.parameters())
    for _ in range(steps):
        real = torch.randn(16, D.in_dim, generator=rng, dtype=p.dtype)
        fake = torch.randn(16, D.in_dim, generator=rng, dtype=p.dtype) + 1
        opt.zero_grad(set_to_none=True)
        d_loss(D, real, fake).backward()
        opt.step()


def unrolled(D, G, opt, k, reals, zs, loss=NS, objective="full"):
    return unrolled_generator_loss(D, opt, loss, G(zs[-1]), reals, [G(z) for z in zs[:k]], k, objective=objective)


def g_grad(loss, G):
    return torch.autograd.grad(loss, list(G.parameters()))


# ---------------------------------------------------------------- functional optimiser step


OPTIMISERS = {
    "adam_fresh": (lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.5, 0.9)), 0),
    "adam_warm_wd": (lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-2), 3),
    "adamw_warm": (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), 2),
    "rmsprop": (lambda ps: torch.optim.RMSprop(ps, lr=1e-2, alpha=0.9), 2),
    "rmsprop_momentum_wd": (lambda ps: torch.optim.RMSprop(ps, lr=1e-2, momentum=0.9, weight_decay=1e-3), 3),
    "rmsprop_centered_fresh": (lambda ps: torch.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True), 0),
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.1), 1),
    "sgd_momentum_fresh": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), 0),
    "sgd_momentum_warm": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2), 3),
    "sgd_nesterov": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 2),
}


@pytest.mark.parametrize("name", OPTIMISERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_functional_step_reproduces_torch_exactly(name, dtype):
    make, warm = OPTIMISERS[name]
    torch.manual_seed(0)
    D = MLPDiscriminator(2, width=8, depth=2).to(dtype)
    opt = make(D.parameters())
    warm_up(D, opt, warm)
    names = [n for n, _ in D.named_parameters()]
    real, fake = torch.randn(16, 2, dtype=dtype), torch.randn(16, 2, dtype=dtype)
    grads = torch.autograd.grad(d_loss(D, real, fake), list(D.parameters()))

    params = {n: p.detach().clone() for n, p in D.named_parameters()}
    state = optimizer_state(opt, D)
    new_params, new_state = functional_optimizer_step(opt, params, dict(zip(names, grads, strict=True)), state)

    for p, g in zip(D.parameters(), grads, strict=True):
        p.grad = g
    opt.step()
    for n, p in D.named_parameters():
        assert torch.equal(new_params[n], p.detach()), n
        real_state = {k: v for k, v in opt.state[p].items() if v is not None}
        assert set(new_state[n]) == set(real_state), n
        for key, v in real_state.items():
            assert torch.equal(new_state[n][key], v), (n, key)


def test_functional_step_skips_missing_gradients_like_torch():
    D, _ = tiny()
    opt = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.9)
    params = {n: p.detach().clone() for n, p in D.named_parameters()}
    new_params, _ = functional_optimizer_step(opt, params, {}, {})
    assert all(new_params[n] is params[n] for n in params)


def test_unsupported_optimisers_are_user_errors():
    D, _ = tiny()
    params = {n: p.detach() for n, p in D.named_parameters()}
    grads = {n: torch.ones_like(p) for n, p in params.items()}
    with pytest.raises(ModeganError, match="amsgrad"):
        functional_optimizer_step(torch.optim.Adam(D.parameters(), amsgrad=True), params, grads, {})
    with pytest.raises(ModeganError, match="got Adagrad"):
        functional_optimizer_step(torch.optim.Adagrad(D.parameters()), params, grads, {})
    two_groups = torch.optim.SGD([{"params": [D.net[0].weight]}, {"params": [D.net[0].bias]}], lr=0.1)
    with pytest.raises(ModeganError, match="one parameter group"):
        functional_optimizer_step(two_groups, params, grads, {})


# ---------------------------------------------------------------- the unrolled loss


def test_k0_is_exactly_the_plain_generator_loss():
    D, G = tiny()
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    z = torch.randn(8, 1, dtype=torch.float64)
    plain = reduce(NS.g(D(G(z))))
    ours = unrolled_generator_loss(D, opt, NS, G(z), [], [], 0)
    assert torch.equal(ours, plain)
    for a, b in zip(g_grad(ours, G), g_grad(plain, G), strict=True):
        assert torch.equal(a, b)


def manual_sgd_unroll(D, G, lr, k, reals, zs, objective="full"):
    """θ_{i+1} = θ_i − lr·∇θ D-loss(θ_i), written out for D = W2·tanh(W1 x + b1) + b2; then the
    non-saturating f_K: −log D_K(G(z)) + log D_K(x) on the last real batch (or the fake term alone)."""
    theta = [p.detach().clone().requires_grad_(True) for p in D.parameters()]

    def d(th, x):
        w1, b1, w2, b2 = th
        return (torch.tanh(x @ w1.T + b1) @ w2.T + b2).squeeze(-1)

    for i in range(k):
        loss = F.softplus(-d(theta, reals[i])).mean() + F.softplus(d(theta, G(zs[i]))).mean()
        grads = torch.autograd.grad(loss, theta, create_graph=True)
        theta = [t - lr * g for t, g in zip(theta, grads, strict=True)]
    fake_term = F.softplus(-d(theta, G(zs[-1]))).mean()
    return fake_term if objective == "fake_only" else fake_term - F.softplus(-d(theta, reals[k - 1])).mean()


@pytest.mark.parametrize("objective", ["full", "fake_only"])
@pytest.mark.parametrize("k", [1, 3])
def test_sgd_unroll_matches_manual_unroll(k, objective):
    D, G = tiny()
    lr = 0.5
    opt = torch.optim.SGD(D.parameters(), lr=lr)
    reals, zs = batches(k)
    ours = unrolled(D, G, opt, k, reals, zs, objective=objective)
    manual = manual_sgd_unroll(D, G, lr, k, reals, zs, objective)
    assert torch.allclose(ours, manual, rtol=1e-12, atol=0)
    ga, gb = g_grad(ours, G), g_grad(manual, G)
    for a, b in zip(ga, gb, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)
    # The unrolled gradient really differs from the plain one (the test is not vacuous).
    plain = g_grad(reduce(NS.g(D(G(zs[-1])))), G)
    assert max((a - p).abs().max() for a, p in zip(ga, plain, strict=True)) > 1e-3


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("warm", [0, 3])
def test_adam_unroll_matches_finite_differences(k, warm):
    D, G = tiny()
    opt = torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.999))
    warm_up(D, opt, warm)
    reals, zs = batches(k)
    grads = g_grad(unrolled(D, G, opt, k, reals, zs), G)
    assert_central_difference(G, grads, lambda: unrolled(D, G, opt, k, reals, zs).item())


def assert_central_difference(G, grads, value, eps=1e-6):
    """Each entry of `grads` (dvalue/dθ_G) against (value(θ + eps) − value(θ − eps)) / 2 eps, one θ at a time."""
    for p, g in zip(G.parameters(), grads, strict=True):
        flat = p.data.view(-1)
        for j in range(flat.numel()):
            old = flat[j].item()
            flat[j] = old + eps
            up = value()
            flat[j] = old - eps
            down = value()
            flat[j] = old
            assert (up - down) / (2 * eps) == pytest.approx(g.view(-1)[j].item(), rel=1e-4, abs=1e-8)


MM, WS = get_loss("minimax"), get_loss("wasserstein")


def value_for_g(loss, real_scores, fake_scores, objective):
    """The G side of each value function, written from the papers (not from the loss terms):
    minimax E log D(x) + E log(1 − D(G(z))) (the notebook's −unrolled_loss), non-saturating
    −E log D(G(z)) + E log D(x), Wasserstein E f(x) − E f(G(z)); fake_only drops the x term."""
    fake = {"minimax": F.logsigmoid(-fake_scores).mean(), "nonsaturating": -F.logsigmoid(fake_scores).mean(),
            "wasserstein": -fake_scores.mean()}[loss.name]
    real = {"minimax": F.logsigmoid(real_scores).mean(), "nonsaturating": F.logsigmoid(real_scores).mean(),
            "wasserstein": real_scores.mean()}[loss.name]
    return fake if objective == "fake_only" else fake + real


def f_k_by_torch(D, opt, G, loss, k, reals, zs, objective):
    """f_K(θ_G) evaluated by torch's own optimiser: K `opt.step()`s on a copy of D (from opt's state), each on
    d_real + d_fake with the generated batch at the current θ_G, then the value function at θ_K."""
    D2 = copy.deepcopy(D)
    opt2 = type(opt)(D2.parameters(), **opt.defaults)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict shares same-dtype tensors
    for i in range(k):
        opt2.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(zs[i])
        (reduce(loss.d_real(D2(reals[i]))) + reduce(loss.d_fake(D2(fake)))).backward()
        opt2.step()
    with torch.no_grad():
        return value_for_g(loss, D2(reals[k - 1]), D2(G(zs[-1])), objective).item()


FD_CASES = [(loss, "full") for loss in (NS, MM, WS)] + [(NS, "fake_only")]


@pytest.mark.parametrize("make", [lambda ps: torch.optim.SGD(ps, lr=0.5, momentum=0.5),
                                  lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.5, 0.999))], ids=["sgd", "adam"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize(("loss", "objective"), FD_CASES, ids=[f"{lo.name}-{o}" for lo, o in FD_CASES])
def test_surrogate_gradient_is_the_finite_difference_gradient_of_f_k(make, k, loss, objective):
    """dL_G/dθ_G equals a central difference of f_K computed by torch's real optimiser on a copy of D, whose
    value function is written out per loss: the real term's sign is checked, not assumed."""
    D, G = tiny()
    opt = make(D.parameters())
    warm_up(D, opt, 2)
    reals, zs = batches(k)
    ours = unrolled(D, G, opt, k, reals, zs, loss, objective)
    assert ours.item() == pytest.approx(f_k_by_torch(D, opt, G, loss, k, reals, zs, objective), rel=1e-10)
    assert_central_difference(G, g_grad(ours, G), lambda: f_k_by_torch(D, opt, G, loss, k, reals, zs, objective))


class LinearCritic(torch.nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1).double()
        with torch.no_grad():
            self.lin.weight.fill_(a)
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x).squeeze(-1)


def test_full_and_fake_only_by_hand_on_a_linear_critic():
    """f(x) = a·x + b, G(z) = θ, Wasserstein, one SGD step (lr η) on real x = 2, 4 (mean m = 3):
    ∂(critic loss)/∂a = θ − m, so a_1 = a − η(θ − m), b_1 = b.
    full:      a_1·m + b − (a_1·θ + b) = a_1(m − θ);  d/dθ = −η(m − θ) − a_1
    fake_only: −(a_1·θ + b);                          d/dθ = −a_1 + ηθ
    With a = 0.5, b = 0.1, η = 0.1, θ = 1: a_1 = 0.7; full 1.4, gradient −0.9; fake_only −0.8, gradient −0.6.
    The two gradients differ by −η·m = −0.3, the real term a_1·m's gradient."""
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    real = torch.tensor([[2.0], [4.0]], dtype=torch.float64)
    fake = theta.expand(2, 1)
    out = {}
    for objective in ("full", "fake_only"):
        D = LinearCritic(0.5, 0.1)
        opt = torch.optim.SGD(D.parameters(), lr=0.1)
        loss = unrolled_generator_loss(D, opt, WS, fake, [real], [fake], 1, objective=objective)
        out[objective] = (loss.item(), torch.autograd.grad(loss, theta)[0].item())
    assert out["full"] == pytest.approx((1.4, -0.9), abs=1e-12)
    assert out["fake_only"] == pytest.approx((-0.8, -0.6), abs=1e-12)


def test_full_minus_fake_only_is_the_real_terms_gradient():
    """On the tanh MLPs with warm Adam: the two objectives' G-gradients differ by the gradient of
    −mean d_real(D_K(x)) alone (written by hand through an SGD unroll), and that difference is not small."""
    D, G = tiny()
    lr, k = 0.5, 2
    opt = torch.optim.SGD(D.parameters(), lr=lr)
    reals, zs = batches(k)
    full = g_grad(unrolled(D, G, opt, k, reals, zs), G)
    fake_only = g_grad(unrolled(D, G, opt, k, reals, zs, objective="fake_only"), G)
    manual_full = manual_sgd_unroll(D, G, lr, k, reals, zs)
    manual_fake = manual_sgd_unroll(D, G, lr, k, reals, zs, "fake_only")
    real_term = g_grad(manual_full - manual_fake, G)
    for a, b, r in zip(full, fake_only, real_term, strict=True):
        assert torch.allclose(a - b, r, rtol=1e-9, atol=1e-13)
    assert max(r.abs().max() for r in real_term) > 1e-3


def test_unknown_objective_is_a_user_error():
    D, G = tiny()
    fake = G(torch.randn(4, 1, dtype=torch.float64))
    with pytest.raises(ModeganError, match="allowed: full, fake_only"):
        unrolled_generator_loss(D, torch.optim.SGD(D.parameters(), lr=0.1), NS, fake, [fake], [fake], 1,
                                objective="both")


def test_unroll_leaves_d_its_buffers_and_optimiser_untouched():
    torch.manual_seed(0)
    D = MLPDiscriminator(2, width=8, depth=2, spectral_norm=True)
    G = MLPGenerator(2, 2, width=8, depth=2)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    warm_up(D, opt, 2)
    opt.zero_grad(set_to_none=True)
    params = copy.deepcopy(dict(D.named_parameters()))
    buffers = copy.deepcopy(dict(D.named_buffers()))
    state = copy.deepcopy(opt.state_dict())
    z = torch.randn(5, 16, 2)
    loss = unrolled_generator_loss(D, opt, NS, G(z[4]), list(z[:2] + 3), [G(zi) for zi in z[2:4]], 2)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    for n, p in D.named_parameters():
        assert torch.equal(p, params[n]) and p.grad is None, n
    for n, b in D.named_buffers():
        assert torch.equal(b, buffers[n]), n
    after = opt.state_dict()
    for i, s in state["state"].items():
        for key, v in s.items():
            assert torch.equal(after["state"][i][key], v)


def test_batch_norm_statistics_are_not_updated_by_the_unroll():
    torch.manual_seed(0)
    D = MLPDiscriminator(2, width=8, depth=1, norm="batch")
    G = MLPGenerator(2, 2, width=8, depth=1)
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    buffers = copy.deepcopy(dict(D.named_buffers()))
    z = torch.randn(2, 16, 2)
    unrolled_generator_loss(D, opt, NS, G(z[1]), [z[0]], [G(z[0])], 1).backward()
    for n, b in D.named_buffers():
        assert torch.equal(b, buffers[n]), n


def test_dead_relu_units_do_not_give_nan_through_fresh_adam():
    """A unit dead on every input has exactly zero gradients, so Adam's second moment is 0; sqrt'(0) = inf."""
    torch.manual_seed(0)
    D = MLPDiscriminator(2, width=8, depth=1)
    with torch.no_grad():
        D.net[0].bias[:3] = -100.0
    G = MLPGenerator(2, 2, width=8, depth=1)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    z = torch.randn(3, 16, 2)
    loss = unrolled_generator_loss(D, opt, NS, G(z[2]), [z[0], z[1]], [G(z[0]), G(z[1])], 2)
    assert all(torch.isfinite(g).all() for g in g_grad(loss, G))


def test_bad_arguments_are_user_errors():
    D, G = tiny()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    fake = G(torch.randn(4, 1, dtype=torch.float64))
    with pytest.raises(ModeganError, match="gradient penalty is not supported"):
        unrolled_generator_loss(D, opt, NS, fake, [fake], [fake], 1, gp=lambda *a: 0)
    with pytest.raises(ModeganError, match="needs 2 real and 2 fake batches; got 1 and 2"):
        unrolled_generator_loss(D, opt, NS, fake, [fake], [fake, fake], 2)
    with pytest.raises(ModeganError, match=">= 0"):
        unrolled_generator_loss(D, opt, NS, fake, [], [], -1)


def test_an_unrolled_run_written_before_the_objective_key_resumes_with_its_own_objective(tmp_path):
    """Versions before scheme.unroll_objective trained the generated term only; their configs lack the key."""
    import yaml

    from modegan.config import build_config
    from modegan.train.rundir import RunDir

    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    for objective, expected in ((None, "fake_only"), ("full", "full")):
        data = build_config(preset="unrolled").to_dict()
        if objective is None:
            del data["scheme"]["unroll_objective"]
        run.config.write_text(yaml.safe_dump(data))
        assert run.read_config().scheme.unroll_objective == expected
    data = build_config(preset="gan").to_dict()  # no unrolling: the key is left out and means nothing
    run.config.write_text(yaml.safe_dump(data))
    assert "unroll_objective" not in data["scheme"] and run.read_config().scheme.unroll_objective == "full"
