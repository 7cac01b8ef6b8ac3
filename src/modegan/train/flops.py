"""Matmul FLOPs of one training step of a toy (MLP) run, counted from the networks' shapes.

Only the linear layers' products are counted (2·rows·in·out per product; biases, activations, losses and
optimiser updates are elementwise and left out). A layer's forward is one product; its backward is one
product for the weight gradient and one for the input gradient, each only where autograd needs it, as
`steps.train_step` runs it:

- critic step (x n_critic): G forward (no grad); D forward on the real and the generated batch, each with
  weight gradients and input gradients for every layer but the first (neither input needs a gradient);
- gradient penalty (per critic step): D forward on the interpolates, their input gradient with
  create_graph (every layer), and the double backward: per layer two products of the gradient graph and
  two of the forward graph (ReLU's second derivative is zero, but autograd still carries its zeros back
  through the forward products), less the first layer's input gradient and the last layer's
  ones-vector gradient;
- generator step: G forward and backward (weight gradients, input gradients but the first); D forward and
  its input gradients (every layer), no D weight gradients (`backward(inputs=G)`);
- PacGAN (pack m): G and the real batch have m·B rows, D sees B packs of m·d inputs;
- unrolled (K): per unrolled step, on each of the real and the generated batch, 9 D forwards' worth of
  products (forward, weight and input gradients with create_graph, and their backward), less 3 (generated)
  or 5 (real) first-layer products; the first unrolled step's real pass and its weight paths do not depend
  on G and are pruned; then the final D_K forward on the generated batch (and on the real batch for the
  "full" objective) with its backward; counted for a loss with a nonzero second derivative (minimax, the
  preset's; a Wasserstein unroll does fewer products);
- VEEGAN: the reconstructor F (x -> z, D's width and depth) and the joint D on (z, x) inputs;
- DIWGAN: its frozen encoder's forward and input gradient on the generated batch.

`step_flops` is checked against the products a step actually executes (`count_matmul_flops`, a dispatch
mode that adds up mm/addmm/bmm/baddbmm) in tests/test_flops.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from modegan.config import RunConfig
from modegan.errors import ModeganError


def mlp_layers(in_dim: int, out_dim: int, width: int, depth: int) -> list[tuple[int, int]]:
    """(in, out) of each linear layer of `nets.mlp.build_mlp`."""
    dims = [in_dim] + [width] * depth + [out_dim]
    return list(zip(dims[:-1], dims[1:], strict=True))


class _Net:
    """The products of one MLP at a number of rows: forward, and the first and last layers' shares."""

    def __init__(self, layers: list[tuple[int, int]]):
        self.io = sum(i * o for i, o in layers)
        self.first = layers[0][0] * layers[0][1]
        self.last = layers[-1][0] * layers[-1][1]

    def fwd(self, rows: int) -> int:
        return 2 * rows * self.io

    def first_layer(self, rows: int) -> int:
        return 2 * rows * self.first

    def last_layer(self, rows: int) -> int:
        return 2 * rows * self.last


def step_flops(cfg: RunConfig, data_dim: int) -> dict[str, int]:
    """Matmul FLOPs of one `train_step` of one seed, by part ('critic', 'gp', 'generator', 'unroll',
    'diwgan') and their 'total'. A batched step of S seeds does S times this (one bmm per layer)."""
    m, s, lc = cfg.model, cfg.scheme, cfg.loss
    if m.arch != "mlp":
        raise ModeganError(f"step_flops counts MLP runs only; model.arch is {m.arch}")
    if m.conditioning != "none":
        raise ModeganError(f"step_flops does not count conditional networks yet (model.conditioning="
                           f"{m.conditioning}: label embeddings, the projection, the classifier head)")
    b, pack = cfg.train.batch_size, s.pack
    rows_g = b * pack  # generated and real samples drawn per D batch
    G = _Net(mlp_layers(m.z_dim, data_dim, m.g_width, m.g_depth))
    g_full = 3 * G.fwd(rows_g) - G.first_layer(rows_g)  # forward, weight grads, input grads but the first
    out = {"critic": 0, "gp": 0, "generator": 0, "unroll": 0, "diwgan": 0}

    if s.veegan:
        D = _Net(mlp_layers(m.z_dim + data_dim, 1, m.d_width, m.d_depth))
        F = _Net(mlp_layers(data_dim, m.z_dim, m.d_width, m.d_depth))
        d_train = 3 * D.fwd(b) - D.first_layer(b)
        out["critic"] = lc.n_critic * (G.fwd(b) + F.fwd(b) + 2 * d_train)
        # G: forward and backward; F(G(z)): forward, input grads for G, then weight grads (+ inner input grads)
        # for F's own update; D(z, G(z)): forward and input grads.
        out["generator"] = g_full + F.fwd(b) * 4 - F.first_layer(b) + 2 * D.fwd(b)
    else:
        D = _Net(mlp_layers(data_dim * pack, 1, m.d_width, m.d_depth))
        d_train = 3 * D.fwd(b) - D.first_layer(b)
        out["critic"] = lc.n_critic * (G.fwd(rows_g) + 2 * d_train)
        if lc.gp_weight > 0:
            out["gp"] = lc.n_critic * (6 * D.fwd(b) - D.first_layer(b) - D.last_layer(b))
        k = s.unroll
        if k:
            f, u = D.fwd(b), D.first_layer(b)
            final = 3 * f + (3 * f - u if s.unroll_objective == "full" else 0)
            out["unroll"] = k * (18 * f - 8 * u) - (8 * f - 5 * u) + final
            out["generator"] = g_full
        else:
            out["generator"] = g_full + 2 * D.fwd(b)
    if cfg.diwgan.enabled and cfg.diwgan.encoder == "mlp":
        from modegan.nets.autoencoder import MLPAutoencoder

        hidden = inspect.signature(MLPAutoencoder).parameters["hidden"].default  # build_diwgan keeps the default
        E = _Net(mlp_layers(data_dim, cfg.diwgan.latent_dim, hidden, 2))
        out["diwgan"] = 2 * E.fwd(rows_g)
    out["total"] = sum(out.values())
    return out


class _MatmulCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = func.overloadpacket
        if op in (torch.ops.aten.mm, torch.ops.aten.bmm):
            a, w = args[0], args[1]
        elif op in (torch.ops.aten.addmm, torch.ops.aten.baddbmm):
            a, w = args[1], args[2]
        else:
            return out
        self.flops += 2 * a.numel() * w.shape[-1]
        return out


def count_matmul_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the mm/addmm/bmm/baddbmm products that `fn()` executes (2·m·n·k each).

    A dispatch mode, not `torch.utils.flop_counter.FlopCounterMode`, whose module hooks break the
    gradient penalty's `autograd.grad`."""
    counter = _MatmulCounter()
    with counter:
        fn()
    return counter.flops
