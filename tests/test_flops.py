"""The matmul FLOP count of a step (train/flops.py): by hand for one case, and against the products executed."""

import pytest
import torch

from modegan.config import build_config
from modegan.data import load_dataset
from modegan.errors import ModeganError
from modegan.presets import PRESETS
from modegan.train.flops import count_matmul_flops, mlp_layers, step_flops
from modegan.train.parts import attach_diwgan, build_parts
from modegan.train.steps import train_step


def test_gan_step_by_hand():
    # gan at the benchmark defaults: z 2, data 2, width 128, G depth 3, D depth 2, batch 256.
    # Sum of in*out: G 2*128 + 128*128 + 128*128 + 128*2 = 33,280; D 2*128 + 128*128 + 128*1 = 16,768.
    # One forward at 256 rows is 2*256*sum: G 17,039,360, D 8,585,216.
    # Critic step: G forward 17,039,360; D forward twice 17,170,432; D weight gradients twice 17,170,432;
    # D input gradients but the first layer, twice: 2*2*256*(16,384 + 128) = 16,908,288. Sum 68,288,512.
    # Generator step: G forward + weight gradients 34,078,720; G input gradients but the first layer
    # 2*256*(33,280 - 256) = 16,908,288; D forward + input gradients of every layer 17,170,432. Sum 68,157,440.
    cfg = build_config(preset="gan")
    f = step_flops(cfg, 2)
    assert f["critic"] == 68_288_512
    assert f["generator"] == 68_157_440
    assert f["total"] == 136_445_952
    assert mlp_layers(2, 1, 128, 2) == [(2, 128), (128, 128), (128, 1)]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_count_matches_executed_products(preset):
    """Every preset's count equals the mm/addmm products its step runs (small, uneven shapes)."""
    over = {"data": {"name": "ring8", "n_train": 500}, "model": {"g_width": 24, "d_width": 20, "g_depth": 2},
            "train": {"batch_size": 36}, "diwgan": {"ae_steps": 2}}
    cfg = build_config(preset=preset, overrides=over)
    if cfg.model.conditioning != "none":
        with pytest.raises(ModeganError, match="does not count conditional"):
            step_flops(cfg, 2)
        return
    data = load_dataset(cfg.data.name, n_train=500)
    torch.manual_seed(0)
    parts = build_parts(cfg, data.dim)
    if cfg.diwgan.enabled:
        attach_diwgan(parts, data.train, None)
    train = data.train.to(next(parts.G.parameters()).device)  # wherever the library placed the run
    train_step(parts, train, cfg.train.batch_size)  # optimiser state exists from here on
    executed = count_matmul_flops(lambda: train_step(parts, train, cfg.train.batch_size))
    assert step_flops(cfg, data.dim)["total"] == executed


@pytest.mark.parametrize("preset", ["gan", "wgan-gp", "pacgan2", "topk"])
def test_batched_step_is_seeds_times_one(preset):
    """S stacked seeds run S times one seed's products (one bmm per layer)."""
    from modegan.train.batched import BatchedParts, batched_train_step

    over = {"data": {"name": "ring8", "n_train": 500}, "model": {"g_width": 24, "d_width": 20},
            "train": {"batch_size": 36}}
    cfgs = [build_config(preset=preset, overrides={**over, "train": {**over["train"], "seed": s}}) for s in (0, 1)]
    data = load_dataset("ring8", n_train=500)
    bp = BatchedParts.stack([build_parts(c, data.dim) for c in cfgs])
    train = data.train.to(next(bp.G.parameters()).device)
    batched_train_step(bp, train, 36)
    executed = count_matmul_flops(lambda: batched_train_step(bp, train, 36))
    assert executed == 2 * step_flops(cfgs[0], data.dim)["total"]
