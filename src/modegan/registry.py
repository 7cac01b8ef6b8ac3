"""Extension points: a loss, a sample weighting or a discriminator constraint registered by name.

A registered name is then allowed wherever the built-in ones are (config files, dict overrides, `--set`-style
CLI overrides, presets), with the same one-line errors: an unknown name lists the built-in *and* the registered
names. Registration lasts for the process; the CLI imports the modules named in $MODEGAN_PLUGINS (comma
separated) first, so a module that registers on import extends `modegan train` too. docs/extending.md has a
worked example of each.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from modegan.errors import ModeganError, choice_error

PLUGINS_ENV = "MODEGAN_PLUGINS"


@dataclass(frozen=True)
class Constraint:
    """A Lipschitz-style constraint on the discriminator, named in `loss.constraints`.

    `penalty(D, real, fake, generator)` returns a scalar added to the critic's loss (as the gradient penalty
    is); `after_step(D)` runs after every critic update (as clipping does). Either may be None.
    """

    name: str
    penalty: Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor] | None = None
    after_step: Callable[[nn.Module], None] | None = None


CONSTRAINTS: dict[str, Constraint] = {}


def _check_name(name: object, kind: str, builtin) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip() or "," in name:
        raise ModeganError(f"a {kind} name must be a non-empty string without spaces at its ends or commas; "
                           f"got {name!r}")
    if name in builtin:
        raise ModeganError(f"{kind} {name!r} is built in; register under another name")
    return name


def register_loss(name: str, loss) -> None:
    """Allow `loss.type: name`. `loss` has three per-sample terms `d_real(scores)`, `d_fake(scores)` and
    `g(scores)` (each (B,) -> (B,), minimised), like `losses.adversarial.AdversarialLoss`."""
    from modegan import config
    from modegan.losses.adversarial import BUILTIN_LOSSES, LOSSES, AdversarialLoss

    _check_name(name, "loss", BUILTIN_LOSSES)
    terms = [getattr(loss, t, None) for t in ("d_real", "d_fake", "g")]
    if not all(callable(t) for t in terms):
        raise ModeganError(f"loss {name!r} needs callables d_real, d_fake and g (per-sample terms)")
    LOSSES[name] = AdversarialLoss(name, *terms, source=getattr(loss, "source", "registered"))
    config.add_choice("loss.type", name)


def register_weighting(name: str, weights: Callable[..., Tensor], roles=("gen", "disc_fake")) -> None:
    """Allow `name` in weighting.<role> for `roles` (gen, disc_fake, disc_real). `weights(scores,
    per_sample_loss, *, step, temperature, samples, real, data_weights)` returns positive weights, one per
    sample; they are scaled to mean 1 over the batch (`weighting.weights.registered_weights`)."""
    from modegan.weighting import weights as w

    builtin = {n for names in w.BUILTIN_ALLOWED.values() for n in names}
    _check_name(name, "weighting", builtin)
    if not callable(weights):
        raise ModeganError(f"weighting {name!r} must be a callable returning one weight per sample")
    roles = (roles,) if isinstance(roles, str) else tuple(roles)
    for role in roles:
        if role not in w.ROLES:
            raise choice_error("weighting role", role, w.ROLES)
    for role in w.ROLES:
        w.ALLOWED[role] = tuple(n for n in w.ALLOWED[role] if n != name) + ((name,) if role in roles else ())
    w.REGISTERED[name] = weights


def register_constraint(name: str, constraint) -> None:
    """Allow `name` in `loss.constraints`: a `Constraint`, or any object with `penalty` and/or `after_step`."""
    _check_name(name, "constraint", ())
    penalty, after = getattr(constraint, "penalty", None), getattr(constraint, "after_step", None)
    if not (callable(penalty) or callable(after)):
        raise ModeganError(f"constraint {name!r} needs a callable penalty(D, real, fake, generator) or "
                           "after_step(D)")
    CONSTRAINTS[name] = Constraint(name, penalty if callable(penalty) else None, after if callable(after) else None)


def unregister(kind: str, name: str) -> None:
    """Remove a registered loss, weighting or constraint (tests; a run already built keeps it)."""
    from modegan import config
    from modegan.losses.adversarial import BUILTIN_LOSSES, LOSSES
    from modegan.weighting import weights as w

    if kind == "loss" and name not in BUILTIN_LOSSES:
        LOSSES.pop(name, None)
        config.remove_choice("loss.type", name)
    elif kind == "weighting":
        w.REGISTERED.pop(name, None)
        for role in w.ROLES:
            w.ALLOWED[role] = tuple(n for n in w.ALLOWED[role] if n != name or n in w.BUILTIN_ALLOWED[role])
    elif kind == "constraint":
        CONSTRAINTS.pop(name, None)
    else:
        raise choice_error("registry kind", kind, ("loss", "weighting", "constraint"))


def check_constraints(names: list[str]) -> None:
    """Every name in loss.constraints is registered (one line listing those that are)."""
    for name in names:
        if name not in CONSTRAINTS:
            allowed = sorted(CONSTRAINTS) or ["none registered (modegan.register_constraint)"]
            raise choice_error("loss.constraints entry", name, allowed)
    if len(set(names)) != len(names):
        raise ModeganError(f"loss.constraints lists a name twice: {names}")


def constraint_penalties(p, real: Tensor, fake: Tensor, out: dict) -> Tensor | float:
    """The sum of the run's registered penalties (0 without any); each also logged under its name."""
    total: Tensor | float = 0.0
    for name in p.cfg.loss.constraints:
        c = CONSTRAINTS[name]
        if c.penalty is not None:
            value = c.penalty(p.D, real, fake, p.rng)
            out[name] = value.detach()
            total = total + value
    return total


def constraints_after_step(p) -> None:
    for name in p.cfg.loss.constraints:
        c = CONSTRAINTS[name]
        if c.after_step is not None:
            with torch.no_grad():
                c.after_step(p.D)


def load_plugins() -> None:
    """Import the modules named in $MODEGAN_PLUGINS (comma separated), which register on import."""
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ModeganError(f"${PLUGINS_ENV}: cannot import {module!r} ({e})") from None
