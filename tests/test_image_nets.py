"""DCGAN generator/discriminator and the convolutional auto-encoder: shapes, widths, determinism, drop-in use."""

import pytest
import torch
from torch import nn

from modegan.errors import ModeganError
from modegan.nets.autoencoder import freeze, pretrain_autoencoder
from modegan.nets.conv_autoencoder import ConvAutoencoder
from modegan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from modegan.nets.packing import PackedDiscriminator

SETTINGS = [(28, 1), (28, 3), (32, 3)]


@pytest.mark.parametrize("size, channels", SETTINGS)
def test_generator_shapes_and_range(size, channels):
    G = DCGANGenerator(size, channels, z_dim=100, width=8, generator=torch.Generator().manual_seed(0))
    assert G.out_shape == (channels, size, size)
    z = G.sample_z(5, torch.Generator().manual_seed(1))
    assert z.shape == (5, 100)
    x = G(z)
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    G.eval()
    assert torch.equal(G.sample(5, torch.Generator().manual_seed(1)), G(z))


@pytest.mark.parametrize("size, channels", SETTINGS)
@pytest.mark.parametrize("d_width", [16, 4])  # equal width ("VEEGAN setting") and 1/4 of G ("Unrolled setting")
def test_discriminator_one_logit_per_sample(size, channels, d_width):
    x = torch.rand(6, channels, size, size) * 2 - 1
    D = DCGANDiscriminator(size, channels, width=d_width)
    out = D(x)
    assert out.shape == (6,) and out.dtype == torch.float32
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [d_width, 2 * d_width, 4 * d_width, 1]
    assert all(c.stride == (2, 2) for c in convs[:3])
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in D.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 2  # all but the first conv
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))


def test_quarter_width_discriminator_is_smaller():
    G = DCGANGenerator(28, 3, width=64)
    full, quarter = DCGANDiscriminator(28, 3, width=64), DCGANDiscriminator(28, 3, width=16)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(quarter) < count(full) / 10 < count(G)


def test_generator_structure_and_z_dim():
    G = DCGANGenerator(32, 3, z_dim=256, width=8)
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [u.out_channels for u in ups] == [32, 16, 8, 3] and ups[0].in_channels == 256
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 3
    assert isinstance(G.net[-1], nn.Tanh)
    assert G(torch.zeros(2, 256)).shape == (2, 3, 32, 32)


def test_initialisation_is_reproducible_from_a_generator():
    a = DCGANGenerator(28, 1, width=8, generator=torch.Generator().manual_seed(3))
    b = DCGANGenerator(28, 1, width=8, generator=torch.Generator().manual_seed(3))
    c = DCGANGenerator(28, 1, width=8, generator=torch.Generator().manual_seed(4))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    w = a.net[0].weight
    assert not torch.equal(w, c.net[0].weight)
    assert abs(float(w.detach().std()) - 0.02) < 0.002  # N(0, 0.02)


def test_packed_dcgan_discriminator():
    D = PackedDiscriminator(DCGANDiscriminator(28, 3 * 2, width=4), 2)
    assert D(torch.zeros(8, 3, 28, 28)).shape == (4,)


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ModeganError, match="image size must be one of 28, 32"):
        DCGANGenerator(64, 3)
    with pytest.raises(ModeganError, match=r"expects images \(N, 1, 28, 28\)"):
        DCGANDiscriminator(28, 1)(torch.zeros(2, 3, 28, 28))


@pytest.mark.parametrize("size, channels", SETTINGS)
def test_conv_autoencoder_shapes(size, channels):
    ae = ConvAutoencoder((channels, size, size), latent_dim=16)
    x = torch.rand(4, channels, size, size) * 2 - 1
    assert ae.in_dim == channels * size * size and ae.latent_dim == 16
    assert ae.encode(x).shape == (4, 16) and ae.encode(x.flatten(1)).shape == (4, 16)
    assert torch.allclose(ae.encode(x), ae.encode(x.flatten(1)))
    assert ae.decode(ae.encode(x)).shape == (4, channels, size, size)
    assert ae(x).shape == x.shape and ae(x.flatten(1)).shape == (4, ae.in_dim)
    convs = [m for m in ae.encoder.modules() if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in ae.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    fcs = [m for m in ae.encoder.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 3 and len(deconvs) == 3 and len(fcs) == 2  # A12
    assert all(m.kernel_size == (5, 5) for m in convs + deconvs)
    assert [m for m in ae.decoder.modules() if isinstance(m, nn.Linear)][0].in_features == 16
    with pytest.raises(ModeganError, match="autoencoder input must be"):
        ae.encode(torch.zeros(2, 5))


def test_conv_autoencoder_drops_into_pretraining_and_freezing():
    """The MLP autoencoder's contract: pretrain_autoencoder on flat rows lowers the MSE; freeze keeps grads to x."""
    torch.manual_seed(0)
    ae = ConvAutoencoder((1, 28, 28), latent_dim=4, width=4)
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(32, 784, generator=gen) > 0.7).float() * 2 - 1
    before = float(torch.mean((ae(data) - data) ** 2).detach())
    after = pretrain_autoencoder(ae, data, steps=8, lr=3e-3, batch_size=8, generator=gen)
    assert after < before
    freeze(ae)
    for p in ae.parameters():
        p.grad = None
    x = torch.zeros(2, 1, 28, 28, requires_grad=True)
    ae.encoder(x).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in ae.parameters())


# ---------------------------------------------------------------- critics for a gradient penalty


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_critic_scores_each_sample_alone_without_batch_norm(norm):
    """In training mode a batch-norm critic's score of sample 0 depends on the rest of the batch, so a
    per-sample gradient penalty is wrong through it (Gulrajani et al. §4); layer norm and none do not."""
    D = DCGANDiscriminator(28, 1, width=4, norm=norm, generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    alone, together = D(x[:2])[0], D(x)[0]
    assert (torch.allclose(alone, together, atol=1e-6)) == (norm != "batch")
    counts = {kind: sum(isinstance(m, kind) for m in D.modules()) for kind in (nn.BatchNorm2d, nn.GroupNorm)}
    assert counts == {nn.BatchNorm2d: 2 * (norm == "batch"), nn.GroupNorm: 2 * (norm == "layer")}
    # The first conv keeps its bias in every variant; normalised convs drop theirs (the norm's offset is it).
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [c.bias is not None for c in convs] == [True, norm == "none", norm == "none", True]


def test_layer_norm_is_the_wgan_gp_codes_layernorm_over_c_h_w():
    """tflib Layernorm(norm_axes=[1, 2, 3]): (x − mean) / sqrt(var + 1e-5) over each sample's C, H, W (biased
    variance), then a per-channel scale and offset; here with scale 2, offset 0.5 on channel 1."""
    D = DCGANDiscriminator(28, 1, width=2, norm="layer")
    ln = next(m for m in D.modules() if isinstance(m, nn.GroupNorm))
    with torch.no_grad():
        ln.weight[1], ln.bias[1] = 2.0, 0.5
    h = torch.rand(3, 4, 7, 7, generator=torch.Generator().manual_seed(0))
    mean = h.mean(dim=(1, 2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
    expected = (h - mean) / torch.sqrt(var + 1e-5)
    expected[:, 1] = expected[:, 1] * 2.0 + 0.5
    assert torch.allclose(ln(h), expected, atol=1e-5)


def test_bad_critic_norm_is_a_clear_error():
    with pytest.raises(ModeganError, match="norm 'instance' is not allowed; allowed: batch, layer, none"):
        DCGANDiscriminator(28, 1, width=4, norm="instance")
