"""PacGAN packing: consecutive samples per pack, on flat data and images, and the packed discriminator."""

import pytest
import torch

from modegan.errors import ModeganError
from modegan.nets.mlp import MLPDiscriminator
from modegan.nets.packing import PackedDiscriminator, pack


def test_m1_is_the_plain_discriminator():
    torch.manual_seed(0)
    D = MLPDiscriminator(2)
    x = torch.randn(10, 2)
    assert pack(x, 1) is x
    P = PackedDiscriminator(D, 1)
    assert P.pack == 1
    assert torch.equal(P(x), D(x))


def test_flat_packing_order_by_hand():
    x = torch.arange(12.0).view(6, 2)  # sample i is (2i, 2i + 1)
    assert torch.equal(pack(x, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]))
    assert torch.equal(pack(x, 3), torch.tensor([[0.0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]))


def test_image_packing_concatenates_channels_of_consecutive_samples():
    x = torch.randn(6, 3, 4, 5)
    p = pack(x, 2)
    assert p.shape == (3, 6, 4, 5)
    for j in range(3):
        for i in range(2):
            assert torch.equal(p[j, 3 * i : 3 * i + 3], x[2 * j + i])


def test_bad_batch_sizes_and_pack_sizes_raise():
    with pytest.raises(ModeganError, match="batch size 5 is not divisible by the pack size m = 2"):
        pack(torch.zeros(5, 2), 2)
    with pytest.raises(ModeganError, match="batch size 10 is not divisible by the pack size m = 4"):
        PackedDiscriminator(MLPDiscriminator(8), 4)(torch.zeros(10, 2))
    with pytest.raises(ModeganError, match=">= 1"):
        pack(torch.zeros(4, 2), 0)
    with pytest.raises(ModeganError, match=">= 1"):
        PackedDiscriminator(MLPDiscriminator(2), 0)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_packed_benchmark_discriminator(m):
    torch.manual_seed(0)
    D = MLPDiscriminator(2 * m, width=128, depth=2)
    P = PackedDiscriminator(D, m)
    assert P.pack == m
    x = torch.randn(24, 2, requires_grad=True)
    out = P(x)
    assert out.shape == (24 // m,)
    # Independent packing: pack j = [x[jm], x[jm+1], ..., x[jm+m-1]].
    assert torch.equal(out, D(torch.cat([x[i::m] for i in range(m)], dim=1)))
    # Score 1 depends on samples m..2m-1 only.
    out[1].backward()
    touched = x.grad.abs().sum(dim=1) > 0
    assert touched.tolist() == [m <= i < 2 * m for i in range(24)]
