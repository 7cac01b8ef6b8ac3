"""Time one training step of each preset on grid25 at batch 256, beside a plain PyTorch loop.

The plain loop is what a person would write by hand for the same networks, optimisers and loss.
Both are timed in the same process, interleaved in blocks, and the median per-step time of each is
reported with their ratio (target: modegan <= 1.1x plain). Two modegan columns:
  step: `train_step`, the composable update;
  loop: the whole `modegan.train` loop per step (finite checks, loss accumulation, progress), with
        its one evaluation and set-up removed by subtracting a 1-step run.

A second table times every other method's step relative to the non-saturating GAN step (same
networks, interleaved), and a third how DIWGAN's step scales with the batch (64, 256, 1024), where its
extra work is a KDE over N x B points and a B x B assignment (target: <= 1.5x GAN at batch 256), and the
mean of both over a whole 2,000-step run, where the codes are trained.

    python benchmarks/step_speed.py [--presets gan,wgan,wgan-gp] [--steps 60] [--repeats 7] [--default-malloc]

Everything runs with `modegan.malloc.tune_malloc()`, as the CLI and `bench` workers do; --default-malloc
keeps glibc's thresholds, under which activations of 128 KiB and more are faulted in afresh every step.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

import modegan
from modegan.config import build_config
from modegan.data import load_dataset
from modegan.malloc import tune_malloc
from modegan.train.parts import attach_diwgan, build_parts
from modegan.train.steps import train_step


def plain_mlp(i, o, width, depth):
    layers, d = [], i
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, o))


def plain_optim(params, oc):
    if oc.name == "adam":
        return torch.optim.Adam(params, lr=oc.lr, betas=oc.betas)
    return torch.optim.RMSprop(params, lr=oc.lr)


def make_plain_step(cfg, data, device=None):
    """A hand-written GAN / WGAN / WGAN-GP step with the same networks and optimisers. With a `device`
    (benchmarks/throughput.py), the networks and `data` live there; the draws stay on the host's generator."""
    m, lc, bs = cfg.model, cfg.loss, cfg.train.batch_size
    G = plain_mlp(m.z_dim, data.shape[1], m.g_width, m.g_depth)
    D = plain_mlp(data.shape[1], 1, m.d_width, m.d_depth)
    if device is not None and torch.device(device).type != "cpu":
        G, D, data = G.to(device), D.to(device), data.to(device)
        host_randn, host_rand = torch.randn, torch.rand

        def randn(*shape, generator):
            return host_randn(*shape, generator=generator).to(device)

        def rand(*shape, generator):
            return host_rand(*shape, generator=generator).to(device)
    else:
        randn, rand = torch.randn, torch.rand
    g_opt, d_opt = plain_optim(G.parameters(), cfg.g_optim), plain_optim(D.parameters(), cfg.d_optim)
    rng = torch.Generator().manual_seed(0)
    wasserstein = lc.type == "wasserstein"

    def step():
        for _ in range(lc.n_critic):
            real = data[torch.randint(len(data), (bs,), generator=rng)]
            with torch.no_grad():
                fake = G(randn(bs, m.z_dim, generator=rng))
            if wasserstein:
                d_loss = D(fake).mean() - D(real).mean()
            else:
                d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
            if lc.gp_weight > 0:
                eps = rand(bs, 1, generator=rng)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
                d_loss = d_loss + lc.gp_weight * ((grad.norm(dim=1) - 1) ** 2).mean()
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            if lc.clip is not None:
                with torch.no_grad():
                    for p in D.parameters():
                        p.clamp_(-lc.clip, lc.clip)
        out = D(G(randn(bs, m.z_dim, generator=rng)))
        g_loss = -out.mean() if wasserstein else F.softplus(-out).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()

    return step


def per_step(fn, steps):
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps


def loop_per_step(preset, steps):
    """modegan.train per step, less a 1-step run (set-up and the single final evaluation, kept small)."""
    def run(n):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            modegan.train({"preset": preset, "data": {"name": "grid25"},
                           "train": {"steps": n, "eval_every": n, "eval_samples": 100, "plots": False}}, out=d)
            return time.perf_counter() - t
    return (run(steps + 1) - run(1)) / steps


def preset_step(name: str, data, batch_size: int = 256, ae_steps: int | None = 200):
    """A ready-to-call modegan step for a preset (DIWGAN's autoencoder pretrained briefly unless `ae_steps` is
    None, the preset's own: speed only)."""
    over = {"train": {"batch_size": batch_size}, **({} if ae_steps is None else {"diwgan": {"ae_steps": ae_steps}})}
    cfg = build_config(preset=name, overrides=over)
    parts = build_parts(cfg, data.dim)
    if cfg.diwgan.enabled:
        attach_diwgan(parts, data.train, None)
    return functools.partial(train_step, parts, data.train, batch_size)


def interleaved(fns: dict, steps: int, repeats: int) -> dict:
    """Median per-step seconds of each callable, timed in alternating blocks."""
    for fn in fns.values():
        per_step(fn, 12)  # warm-up; also fills DIWGAN's history so its full cost is timed
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(per_step(fn, steps))
    return {k: statistics.median(v) for k, v in times.items()}


def relative_table(data, names: list[str], steps: int, repeats: int) -> None:
    print(f"\nstep time relative to gan at batch 256 (median of {repeats} interleaved blocks of {steps} steps)")
    print(f"{'preset':<10} {'gan ms':>8} {'ms':>8} {'ratio':>6}")
    for name in names:
        t = interleaved({"gan": preset_step("gan", data), name: preset_step(name, data)}, steps, repeats)
        print(f"{name:<10} {t['gan'] * 1e3:8.2f} {t[name] * 1e3:8.2f} {t[name] / t['gan']:6.2f}")


def diwgan_scaling(data, steps: int, repeats: int) -> None:
    print("\nDIWGAN step against the gan step by batch size")
    print(f"{'batch':>6} {'gan ms':>8} {'diwgan ms':>10} {'ratio':>6}")
    for b in (64, 256, 1024):
        n = max(3, steps * 256 // (b * 4))
        t = interleaved({"gan": preset_step("gan", data, b), "diwgan": preset_step("diwgan", data, b)}, n, repeats)
        print(f"{b:>6} {t['gan'] * 1e3:8.2f} {t['diwgan'] * 1e3:10.2f} {t['diwgan'] / t['gan']:6.2f}")


def diwgan_over_a_run(data, steps: int = 2000, block: int = 100) -> None:
    """Mean step time over a whole run (both trained from scratch in alternating blocks): the assignment's
    cost depends on where the codes are, and the untrained codes of the table above are its slowest case."""
    fns = {"gan": preset_step("gan", data), "diwgan": preset_step("diwgan", data, ae_steps=None)}
    times = {k: 0.0 for k in fns}
    for _ in range(steps // block):
        for k, fn in fns.items():
            times[k] += per_step(fn, block) * block
    g, d = times["gan"] / steps * 1e3, times["diwgan"] / steps * 1e3
    print(f"\nmean over a {steps}-step run at batch 256: gan {g:.2f} ms, diwgan {d:.2f} ms, ratio {d / g:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="gan,wgan,wgan-gp", help="presets timed against a plain loop ('' to skip)")
    ap.add_argument("--steps", type=int, default=60, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved blocks per side")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--relative", default="iwgan,iwgan-gp,gan-hard,topk,diwgan,unrolled,veegan,pacgan2,pacgan3,pacgan4",
                    help="presets timed against gan ('' to skip)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the DIWGAN batch-size table")
    ap.add_argument("--default-malloc", action="store_true", help="glibc's malloc thresholds, not modegan's")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.default_malloc:
        tune_malloc()
    data = load_dataset("grid25")
    print(f"grid25, batch 256, {args.threads} thread(s), median of {args.repeats} interleaved blocks "
          f"of {args.steps} steps, {'glibc default' if args.default_malloc else 'tuned'} malloc")
    print(f"{'preset':<10} {'plain ms':>9} {'step ms':>8} {'ratio':>6} {'loop ms':>8} {'ratio':>6}")
    for name in filter(None, args.presets.split(",")):
        cfg = build_config(preset=name)
        parts = build_parts(cfg, data.dim)
        ours = functools.partial(train_step, parts, data.train, cfg.train.batch_size)
        plain = make_plain_step(cfg, data.train)
        per_step(ours, 5), per_step(plain, 5)  # warm-up
        t_ours, t_plain, t_loop = [], [], []
        for _ in range(args.repeats):
            t_plain.append(per_step(plain, args.steps))
            t_ours.append(per_step(ours, args.steps))
        for _ in range(max(1, args.repeats // 3)):
            t_loop.append(loop_per_step(name, args.steps * 5))
        p, o, lp = (statistics.median(t) * 1e3 for t in (t_plain, t_ours, t_loop))
        print(f"{name:<10} {p:9.2f} {o:8.2f} {o / p:6.2f} {lp:8.2f} {lp / p:6.2f}")
    if args.relative:
        relative_table(data, args.relative.split(","), args.steps, args.repeats)
    if not args.no_scaling:
        diwgan_scaling(data, args.steps, args.repeats)
        diwgan_over_a_run(data)


if __name__ == "__main__":
    main()
