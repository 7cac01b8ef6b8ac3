"""Unrolled GAN (Metz, Poole, Pfau, Sohl-Dickstein, ICLR 2017; methods.md §4.1).

The generator minimises the surrogate f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D)): the whole value function,
real and generated terms, at θ_D^K, the discriminator after K updates made with the discriminator's OWN
optimiser rule and current state. The real term depends on θ_G through θ_D^K, so it is kept. The
gradient is taken through those K updates: the ∂f/∂θ_D^K · dθ_D^K/dθ_G term is what discourages mode
hopping, because G is penalised for a move that D could answer within K steps. The unrolled copies are
thrown away; the real discriminator is updated normally elsewhere (K = 0).

Everything here is functional (`torch.func.functional_call` and out-of-place optimiser formulas), so the
real discriminator, its buffers and its optimiser are never mutated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from modegan.errors import ModeganError
from modegan.losses.adversarial import AdversarialLoss, reduce

State = dict[str, dict[str, Tensor]]
OBJECTIVES = ("full", "fake_only")  # scheme.unroll_objective: Metz et al.'s f_K, or its fake term alone


def _group(opt: torch.optim.Optimizer) -> dict:
    if len(opt.param_groups) != 1:
        raise ModeganError(f"unrolling needs an optimiser with one parameter group; got {len(opt.param_groups)}")
    return opt.param_groups[0]


def _safe_sqrt(x: Tensor) -> Tensor:
    """sqrt with gradient 0 (not inf·0 = NaN) where x == 0.

    A second moment is exactly 0 wherever a gradient is exactly 0 from a fresh state, e.g. the incoming
    weights of a dead ReLU unit; plain sqrt would then poison the whole unrolled gradient with NaN.
    Values are identical to `x.sqrt()` (the double `where` keeps the masked branch finite).
    """
    pos = x > 0
    return torch.where(pos, torch.where(pos, x, 1.0).sqrt(), 0.0)


def _adam(p: Tensor, g: Tensor, s: dict[str, Tensor], group: dict) -> tuple[Tensor, dict[str, Tensor]]:
    # torch/optim/adam.py `_single_tensor_adam`, same op order so values match `opt.step()` bit for bit.
    if group.get("amsgrad", False):
        raise ModeganError("unrolling does not support Adam with amsgrad=True")
    beta1, beta2 = (float(b) for b in group["betas"])
    lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
    if group.get("maximize", False):
        g = -g
    step = s["step"] + 1 if "step" in s else torch.tensor(1.0)
    if wd != 0:
        if group.get("decoupled_weight_decay", False):  # AdamW
            p = p * (1 - lr * wd)
        else:
            g = g.add(p, alpha=wd)
    exp_avg = torch.lerp(s["exp_avg"] if "exp_avg" in s else torch.zeros_like(p), g, 1 - beta1)
    exp_avg_sq = s["exp_avg_sq"] if "exp_avg_sq" in s else torch.zeros_like(p)
    exp_avg_sq = torch.addcmul(exp_avg_sq.mul(beta2), g, g, value=1 - beta2)
    n = float(step)
    step_size = lr / (1 - beta1**n)
    denom = _safe_sqrt(exp_avg_sq) / (1 - beta2**n) ** 0.5 + eps
    p = torch.addcdiv(p, exp_avg, denom, value=-step_size)
    return p, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def _rmsprop(p: Tensor, g: Tensor, s: dict[str, Tensor], group: dict) -> tuple[Tensor, dict[str, Tensor]]:
    # torch/optim/rmsprop.py `_single_tensor_rmsprop`.
    lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
    wd, momentum = float(group["weight_decay"]), float(group["momentum"])
    if group.get("maximize", False):
        g = -g
    out = {"step": s["step"] + 1 if "step" in s else torch.tensor(1.0)}
    if wd != 0:
        g = g.add(p, alpha=wd)
    square_avg = s["square_avg"] if "square_avg" in s else torch.zeros_like(p)
    out["square_avg"] = torch.addcmul(square_avg.mul(alpha), g, g, value=1 - alpha)
    if group.get("centered", False):
        out["grad_avg"] = torch.lerp(s["grad_avg"] if "grad_avg" in s else torch.zeros_like(p), g, 1 - alpha)
        avg = _safe_sqrt(torch.addcmul(out["square_avg"], out["grad_avg"], out["grad_avg"], value=-1))
    else:
        avg = _safe_sqrt(out["square_avg"])
    avg = avg + eps
    if momentum > 0:
        buf = s["momentum_buffer"] if "momentum_buffer" in s else torch.zeros_like(p)
        out["momentum_buffer"] = torch.addcdiv(buf.mul(momentum), g, avg)
        return p.add(out["momentum_buffer"], alpha=-lr), out
    return torch.addcdiv(p, g, avg, value=-lr), out


def _sgd(p: Tensor, g: Tensor, s: dict[str, Tensor], group: dict) -> tuple[Tensor, dict[str, Tensor]]:
    # torch/optim/sgd.py `_single_tensor_sgd`. One deliberate difference: torch starts the momentum buffer
    # as grad.detach().clone(); here it keeps its graph, because dθ_{i+1}/dθ_G must include that path.
    lr, wd, momentum = float(group["lr"]), float(group["weight_decay"]), float(group["momentum"])
    if group.get("maximize", False):
        g = -g
    if wd != 0:
        g = g.add(p, alpha=wd)
    out: dict[str, Tensor] = {}
    if momentum != 0:
        buf = s.get("momentum_buffer")
        buf = g if buf is None else buf.mul(momentum).add(g, alpha=1 - float(group["dampening"]))
        out["momentum_buffer"] = buf
        g = g.add(buf, alpha=momentum) if group.get("nesterov", False) else buf
    return p.add(g, alpha=-lr), out


RULES = {torch.optim.Adam: _adam, torch.optim.RMSprop: _rmsprop, torch.optim.SGD: _sgd}  # AdamW is an Adam


def _rule(opt: torch.optim.Optimizer) -> Callable:
    for cls, rule in RULES.items():
        if isinstance(opt, cls):
            return rule
    raise ModeganError(f"unrolling supports Adam, RMSprop and SGD optimisers; got {type(opt).__name__}")


def functional_optimizer_step(
    opt: torch.optim.Optimizer,
    params: dict[str, Tensor],
    grads: dict[str, Tensor | None],
    state: State,
) -> tuple[dict[str, Tensor], State]:
    """One differentiable, out-of-place step of `opt`'s update rule: returns (new params, new state).

    Same formulas and op order as torch's single-tensor Adam/AdamW, RMSprop (centered, momentum) and SGD
    (momentum, dampening, nesterov), with hyperparameters from `opt.param_groups[0]`; `state` is keyed
    like `params` (see `optimizer_state`) and may be empty for a fresh optimiser. Nothing is mutated.
    As in torch, a parameter whose gradient is None (missing) is skipped: its value and state are kept.
    """
    group, rule = _group(opt), _rule(opt)
    new_params: dict[str, Tensor] = {}
    new_state: State = {}
    for name, p in params.items():
        g = grads.get(name)
        if g is None:
            new_params[name], new_state[name] = p, state.get(name, {})
        else:
            new_params[name], new_state[name] = rule(p, g, state.get(name, {}), group)
    return new_params, new_state


def optimizer_state(opt: torch.optim.Optimizer, module: nn.Module) -> State:
    """A detached copy of `opt`'s per-parameter state, keyed by `module`'s parameter names.

    Only parameters that `opt` updates are included (an empty dict for those not stepped yet).
    """
    owned = {id(p) for p in _group(opt)["params"]}
    return {
        name: {k: v.detach().clone() for k, v in opt.state.get(p, {}).items() if isinstance(v, Tensor)}
        for name, p in module.named_parameters()
        if id(p) in owned
    }


def unrolled_generator_loss(
    D: nn.Module,
    d_opt: torch.optim.Optimizer,
    loss: AdversarialLoss,
    fake: Tensor,
    real_batches: Sequence[Tensor],
    fake_batches: Sequence[Tensor],
    k: int,
    *,
    gp: Callable | None = None,
    g_term: Callable[[Tensor], Tensor] | None = None,
    objective: str = "full",
) -> Tensor:
    """The generator's surrogate f_K at θ_K, after K differentiable updates of a copy of D.

    objective "full" (Metz et al.'s f_K, the default): g_term(D_K(fake)) − mean(loss.d_real(D_K(real))),
    with real = real_batches[K-1], the last batch the unroll trained on (the notebook's one batch).
    The real term does not depend on G's samples, but it does depend on θ_G through θ_K; G maximises
    D's loss there, i.e. minimises the G side of the value function. Per loss (D a sigmoid, f a critic):
      minimax        log(1 − D_K(G(z))) + log D_K(x)   = −L_D(θ_K), the notebook's `minimize(-unrolled_loss)`
      nonsaturating  −log D_K(G(z))     + log D_K(x)
      wasserstein    −f_K(G(z))         + f_K(x)
    so the added term is −d_real in all three. objective "fake_only" keeps g_term(D_K(fake)) alone (the
    variant that drops the real term; its G-gradient differs by exactly the real term's).

    θ_0 = detached copies of D's parameters; step i minimises the plain D loss on (real_batches[i],
    fake_batches[i]) with `d_opt`'s rule and current state. fake_batches[i] must be G(z_i) NOT detached,
    so that dθ_K/dθ_G reaches G (Metz et al. 2017); pass the same batch K times to unroll on one batch,
    as the reference notebook does. Cost: K forward/create-graph-backward passes of D plus the final
    forwards (the generated batch, and the real one for "full"); the final backward runs through all of
    them (second-order terms).

    k = 0 is exactly the plain generator loss `reduce(loss.g(D(fake)))`. For k > 0, D's parameters,
    gradients, buffers (spectral-norm u/v, batch-norm statistics: cloned, then evolved by the unrolled
    forwards) and `d_opt`'s state are left untouched. Parameters of D that `d_opt` does not own are held
    fixed. Weight clipping is not applied inside the unroll (config rejects unrolling with clipping); a
    gradient penalty is rejected.
    `g_term` maps the final scores to the generator loss (default: the plain mean of loss.g); a sample
    weighting enters there, so unrolling composes with IWGAN weights (it weights the fake term only).
    At k = 0, θ_K = θ_D does not depend on θ_G, so the real term is a constant and is left out.
    D may be a stacked discriminator (`nets.batched`, with its stacked optimiser): the batches then carry a
    leading seed axis, every seed unrolls its own copy with its own optimiser state (the update rules are
    elementwise), and the result is one surrogate per seed, (S,).
    """
    if objective not in OBJECTIVES:
        raise ModeganError(f"unrolling objective {objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    if g_term is None:
        g_term = lambda scores: reduce(loss.g(scores))  # noqa: E731
    if gp is not None:
        raise ModeganError("unrolling with a gradient penalty is not supported")
    if k < 0:
        raise ModeganError(f"unrolling steps must be >= 0; got {k}")
    if len(real_batches) < k or len(fake_batches) < k:
        raise ModeganError(
            f"unrolling {k} steps needs {k} real and {k} fake batches; got {len(real_batches)} and {len(fake_batches)}"
        )
    if k == 0:
        return g_term(D(fake))
    state = optimizer_state(d_opt, D)
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in D.named_parameters() if n in state}
    fixed = {n: p.detach() for n, p in D.named_parameters() if n not in state}
    fixed.update({n: b.clone() for n, b in D.named_buffers()})
    names = list(theta)
    for i in range(k):
        tensors = {**theta, **fixed}
        d_loss = reduce(loss.d_real(functional_call(D, tensors, (real_batches[i],)))) + reduce(
            loss.d_fake(functional_call(D, tensors, (fake_batches[i],)))
        )
        # summed: a stacked D (batched seeds) has one loss per seed, and each seed's θ gets its own gradient
        grads = torch.autograd.grad(d_loss.sum(), [theta[n] for n in names], create_graph=True, allow_unused=True)
        theta, state = functional_optimizer_step(d_opt, theta, dict(zip(names, grads, strict=True)), state)
    tensors = {**theta, **fixed}
    out = g_term(functional_call(D, tensors, (fake,)))
    if objective == "full":
        out = out - reduce(loss.d_real(functional_call(D, tensors, (real_batches[k - 1],))))
    return out
