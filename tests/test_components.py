"""Weighting, DIWGAN and the baselines inside the trainer: exact resume, diagnostics, combinations."""


import pytest
import torch

import modegan
from conftest import metrics_lines
from modegan.config import build_config, merge
from modegan.data import load_dataset
from modegan.errors import ModeganError
from modegan.train.parts import attach_diwgan, build_parts
from modegan.train.steps import diwgan_head_start, generator_step, train_step

FAST_DIWGAN = {"diwgan": {"ae_steps": 100}}
NEW_PRESETS = ["iwgan", "iwgan-gp", "gan-hard", "topk", "diwgan", "unrolled", "veegan", "pacgan3"]


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_resume_is_exact_for_every_component(tmp_path, tiny, preset):
    cfg = merge(merge(tiny, FAST_DIWGAN), {"preset": preset, "weighting": {"topk_every": 3}})
    full = modegan.train(cfg, out=tmp_path / "full")
    modegan.train(merge(cfg, {"train": {"steps": 20}}), out=tmp_path / "part")
    resumed = modegan.train(resume=tmp_path / "part", steps=40)
    assert resumed["metrics"] == full["metrics"]
    assert metrics_lines(tmp_path / "part") == metrics_lines(tmp_path / "full")


def test_weight_diagnostics_are_logged(tmp_path, tiny):
    modegan.train(merge(tiny, {"preset": "topk", "weighting": {"topk_every": 1, "topk_decay": 0.5}}),
                  out=tmp_path / "r")
    last = metrics_lines(tmp_path / "r")[-1]
    # rate = max(0.5, 0.5 ** step) = 0.5 at step 40: k = 32 of 64 kept, equal weights -> ESS 32, max/mean 2
    assert last["weights"]["gen"]["ess"] == pytest.approx(32.0)
    assert last["weights"]["gen"]["max_over_mean"] == pytest.approx(2.0)


def test_diwgan_logs_its_diagnostics_and_caches_the_autoencoder(tmp_path, tiny):
    summary = modegan.train(merge(merge(tiny, FAST_DIWGAN), {"preset": "diwgan"}), out=tmp_path / "r")
    last = metrics_lines(tmp_path / "r")[-1]
    for key in ("diwgan_mean_paired_distance", "diwgan_ess_gen", "diwgan_ess_target", "diwgan_targets_above_mean"):
        assert key in last
    assert 1 <= last["diwgan_ess_gen"] <= 64 and 1 <= last["diwgan_ess_target"] <= 64
    assert summary["diwgan"]["n_targets"] == 64 and summary["diwgan"]["autoencoder_mse"] < 0.05
    cache = tmp_path / "r" / "autoencoder.safetensors"
    before = cache.read_bytes()
    modegan.train(resume=tmp_path / "r", steps=60)
    assert cache.read_bytes() == before, "resume reuses the cached autoencoder"


def test_diwgan_generator_step_takes_the_gradient_of_the_summed_loss(tiny):
    """With the head start (the batch drawn, and its pairing started in the background, before the critic step),
    G's gradient is that of -log D(G(z)) + α·D_a computed plainly, and DIWGAN's history takes the same update."""
    cfg = build_config(preset="diwgan", overrides=merge(merge(tiny, FAST_DIWGAN), {"diwgan": {"n_history": 2}}))
    data = load_dataset("ring8", n_train=2000)
    p = build_parts(cfg, 2)
    attach_diwgan(p, data.train, None)
    for _ in range(4):  # past the history fill: both weight vectors are live
        train_step(p, data.train, 64)
    state, rng = {k: v.clone() for k, v in p.diwgan.state_dict().items()}, p.rng.get_state()
    fake = p.G(p.G.sample_z(64, p.rng))
    extra, diag = p.diwgan(fake)
    assert float(diag["ess_gen"]) < 64 and float(diag["ess_target"]) < 64
    after = {k: v.clone() for k, v in p.diwgan.state_dict().items()}
    p.g_opt.zero_grad(set_to_none=True)
    (p.loss.g(p.D(fake)).mean() + extra).backward(inputs=list(p.G.parameters()))
    expected = [q.grad.clone() for q in p.G.parameters()]
    p.diwgan.load_state_dict(state)
    p.rng.set_state(rng)
    generator_step(p, 64, data.train[:64], diwgan_head_start(p, 64))
    for got, want in zip((q.grad for q in p.G.parameters()), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert all(torch.equal(v, after[k]) for k, v in p.diwgan.state_dict().items())  # the same history update
    assert int(after["steps"]) == int(state["steps"]) + 1


def test_veegan_trains_all_three_networks(tiny):
    cfg = build_config(preset="veegan", overrides=merge(tiny, {}))
    data = load_dataset("ring8", n_train=2000)
    p = build_parts(cfg, 2)
    before = {k: [q.detach().clone() for q in m.parameters()] for k, m in p.modules().items()}
    out = train_step(p, data.train, 64)
    assert set(out) == {"d_loss", "g_loss", "reconstruction"}
    for k, m in p.modules().items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters(), strict=True)), k


def test_packing_feeds_the_discriminator_packs(tiny):
    cfg = build_config(preset="pacgan3", overrides=merge(tiny, {}))
    p = build_parts(cfg, 2)
    assert p.D.pack == 3 and p.D.D.net[0].in_features == 6
    seen = []
    p.D.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].shape, out.shape)))
    train_step(p, load_dataset("ring8", n_train=500).train, 64)
    assert seen[0] == (torch.Size([192, 2]), torch.Size([64]))  # 64 packs of 3 samples


def test_unrolling_zero_steps_is_the_plain_update(tiny):
    """scheme.unroll = 0 and a plain run take identical steps (same seed)."""
    data = load_dataset("ring8", n_train=500)
    results = []
    for unroll in (0, None):
        over = merge(tiny, {"loss": {"type": "minimax"}})
        if unroll is not None:
            over = merge(over, {"scheme": {"unroll": unroll}})
        p = build_parts(build_config(overrides=over), 2)
        for _ in range(5):
            train_step(p, data.train, 64)
        results.append([q.detach().clone() for q in p.G.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


@pytest.mark.parametrize("overrides, match", [
    ({"preset": "unrolled", "loss": {"gp_weight": 10}}, "scheme.unroll with loss.gp_weight"),
    ({"preset": "veegan", "scheme": {"pack": 2}}, "scheme.veegan and scheme.pack"),
    ({"preset": "veegan", "loss": {"type": "wasserstein"}}, "scheme.veegan uses its own logistic losses"),
    ({"preset": "veegan", "weighting": {"gen": ["density_ratio"]}}, "scheme.veegan does not take sample weights"),
    ({"preset": "veegan", "diwgan": {"enabled": True}}, "scheme.veegan and diwgan.enabled"),
    ({"preset": "pacgan2", "weighting": {"disc_real": ["data"]}}, "with scheme.pack > 1 the discriminator"),
    ({"weighting": {"gen": ["data"]}}, "unknown weighting for role 'gen'"),
    ({"weighting": {"disc_real": ["topk"]}}, "unknown weighting for role 'disc_real'"),
    ({"diwgan": {"bandwidth": "wide"}}, "diwgan.bandwidth: 'wide' is not allowed"),
    ({"diwgan": {"targets": "best"}}, "diwgan.targets: 'best' is not allowed"),
    ({"weighting": {"topk_min": 1.5}}, "weighting.topk_min: must be in (0, 1]"),
    ({"loss": {"type": "wasserstein"}}, "loss.type=wasserstein needs a Lipschitz constraint"),
    ({"preset": "wgan", "weighting": {"gen": ["hard"]}}, "weighting 'hard' with loss.type=wasserstein"),
    ({"preset": "wgan-gp", "weighting": {"disc_real": ["hard"]}}, "weighting 'hard' with loss.type=wasserstein"),
    ({"preset": "unrolled", "loss": {"clip": 0.01}}, "scheme.unroll with loss.clip: the unrolled"),
    ({"scheme": {"unroll_objective": "fake_only"}}, "scheme.unroll_objective applies only with scheme.unroll > 0"),
    ({"preset": "unrolled", "scheme": {"unroll_objective": "both"}}, "'both' is not allowed; allowed: full, fake_only"),
    ({"preset": "wgan-gp", "model": {"d_norm": "batch"}}, "loss.gp_weight > 0 with model.d_norm=batch"),
    ({"preset": "gan", "data": {"name": "mnist"}, "model": {"gp_d_norm": "none"}}, "model.gp_d_norm applies only"),
    ({"preset": "pacgan2", "weighting": {"gen": ["distance"]}}, "weighting 'distance' is per generated sample"),
    ({"weighting": {"disc_real": ["distance"]}}, "unknown weighting for role 'disc_real'"),
])
def test_meaningless_combinations_are_rejected(overrides, match):
    with pytest.raises(ModeganError, match=match.replace("(", r"\(").replace(")", r"\)")):
        build_config(overrides=overrides)


def test_meaningful_combinations_are_accepted():
    build_config(preset="pacgan2", overrides={"loss": {"type": "wasserstein", "gp_weight": 10, "n_critic": 5}})
    build_config(preset="unrolled", overrides={"weighting": {"gen": ["density_ratio"]}})
    build_config(preset="diwgan", overrides={"scheme": {"pack": 2}, "weighting": {"gen": ["density_ratio"]}})
    build_config(overrides={"loss": {"type": "wasserstein"}, "model": {"spectral_norm": True}})  # SN-WGAN
    build_config(preset="wgan-gp", overrides={"model": {"d_norm": "layer"}})
    build_config(preset="unrolled", overrides={"scheme": {"unroll_objective": "fake_only"}})
    build_config(preset="wgan-gp", overrides={"data": {"name": "mnist"}, "model": {"gp_d_norm": "none"}})
    build_config(preset="gan", overrides={"weighting": {"gen": ["distance"], "disc_fake": ["distance"]}})


def _norm_layers(D):
    return sorted({type(m).__name__ for m in D.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))})


@pytest.mark.parametrize("overrides, layers", [
    ({"preset": "gan"}, ["BatchNorm2d"]),
    ({"preset": "wgan"}, ["BatchNorm2d"]),  # clipping, no penalty: DCGAN's own critic
    ({"preset": "wgan-gp"}, ["GroupNorm"]),
    ({"preset": "iwgan-gp"}, ["GroupNorm"]),
    ({"preset": "wgan-gp", "model": {"gp_d_norm": "none"}}, []),
    ({"preset": "pacgan2", "loss": {"type": "wasserstein", "gp_weight": 10, "n_critic": 5}}, ["GroupNorm"]),
    ({"preset": "pacgan2", "loss": {"gp_weight": 1}}, ["GroupNorm"]),  # any penalty, whatever the loss
])
def test_an_image_critic_under_a_gradient_penalty_has_no_batch_norm(overrides, layers):
    from modegan.train.parts import build_discriminator

    cfg = build_config(overrides=merge(overrides, {"data": {"name": "mnist"}}))
    assert _norm_layers(build_discriminator(cfg, 2)) == layers
    assert ("gp_d_norm" in cfg.to_dict()["model"]) == (cfg.loss.gp_weight > 0)  # recorded only where it applies


def test_new_keys_leave_unaffected_configs_unchanged():
    """scheme.unroll_objective and model.gp_d_norm are recorded only where they apply (unrolled runs, image
    critics with a penalty), so other configs and their hashes are what they were."""
    assert "unroll_objective" not in build_config(preset="gan").to_dict()["scheme"]
    assert build_config(preset="unrolled").to_dict()["scheme"]["unroll_objective"] == "full"
    assert "gp_d_norm" not in build_config(preset="wgan-gp").to_dict()["model"]  # toy: the MLP critic


def test_unroll_objective_reaches_the_generator_step(tiny):
    """The two objectives take different generator steps from identical parts (same seed, same batches)."""
    data = load_dataset("ring8", n_train=500)
    params = {}
    for objective in ("full", "fake_only"):
        cfg = build_config(preset="unrolled", overrides=merge(tiny, {"scheme": {"unroll": 2,
                                                                                "unroll_objective": objective}}))
        p = build_parts(cfg, 2)
        train_step(p, data.train, 64)
        params[objective] = [q.detach().clone() for q in p.G.parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(*params.values(), strict=True))


def test_data_weights_need_a_weighted_dataset(tmp_path, tiny):
    with pytest.raises(ModeganError, match="data weights need a dataset that carries them"):
        modegan.train(merge(tiny, {"weighting": {"disc_real": ["data"]}}), out=tmp_path / "r")
    with pytest.raises(ModeganError, match="data.mode_probs must be 8 positive numbers"):
        modegan.train(merge(tiny, {"data": {"mode_probs": [1, 2]}}), out=tmp_path / "r")


def test_biased_dataset_weights_are_pi_over_q():
    q = [4, 1, 1, 1, 1, 1, 1, 2]
    d = load_dataset("ring8", n_train=20000, mode_probs=q)
    qn = torch.tensor(q, dtype=torch.float64) / sum(q)
    # component of each training point = the nearest mean (modes are 0.77 apart, std 0.01)
    means = torch.tensor(d.mixture.means)
    comp = torch.cdist(d.train.double(), means).argmin(1)
    freq = torch.bincount(comp, minlength=8).double() / len(comp)
    assert torch.allclose(freq, qn, atol=0.01)
    assert torch.allclose(d.weights.double(), (1 / 8) / qn[comp], rtol=1e-6)
    assert d.weights.double().mean().item() == pytest.approx(1.0, abs=0.02)  # E_q[p/q] = 1


def test_overwrite_replaces_the_cached_autoencoder(tmp_path, tiny):
    modegan.train(merge(merge(tiny, FAST_DIWGAN), {"preset": "diwgan"}), out=tmp_path / "r")
    # another dataset: the old cache would not match, so --overwrite must remove it
    summary = modegan.train(merge(merge(tiny, FAST_DIWGAN), {"preset": "diwgan", "data": {"name": "grid25"}}),
                            out=tmp_path / "r", overwrite=True)
    assert summary["status"] == "finished" and summary["dataset"]["name"] == "grid25"


def test_mode_probs_need_a_mixture():
    with pytest.raises(ModeganError, match="data.mode_probs needs a Gaussian mixture; 'swissroll' has no modes"):
        load_dataset("swissroll", n_train=10, mode_probs=[1, 2])


def test_tune_malloc_raises_glibc_thresholds_unless_told_not_to(monkeypatch):
    import platform

    from modegan.malloc import tune_malloc

    monkeypatch.setenv("MODEGAN_MALLOC", "default")
    assert tune_malloc() is False
    monkeypatch.delenv("MODEGAN_MALLOC")
    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")
