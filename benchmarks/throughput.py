"""Generator steps per second per seed of each toy preset: one run, S seeds as a batch, a plain PyTorch loop.

For each preset, in one process, interleaved in blocks (median of --repeats blocks of --steps steps each):
  S=1     `train_step` on one run's parts (the unbatched step);
  S=10    `batched_train_step` on `BatchedParts` of --seeds seeds, per seed (steps/s x S), where the preset
          batches (`modegan.train.batched.batch_unsupported(cfg)` is None, asked at run time); else "falls back"
          (train_seeds would train the seeds one after another, at the S=1 rate);
  plain   benchmarks/step_speed.py's hand-written loop (imported), for the presets it writes by hand
          (GAN / WGAN / WGAN-GP without weighting, packing or other schemes);
  GEMM    torch.mm of the step's shapes, (batch·pack) x width @ width x width in float32, and its batched
          form torch.bmm with S such products, timed in the same blocks: the machine's matmul rate there.
The FLOPs of a step are its linear layers' products, counted from the shapes (`modegan.train.flops.step_flops`:
forward and backward of D and G, n_critic, the penalty's double backward, unroll K, packing); "share" is the
step's achieved FLOP/s over the GEMM's (S=1 against mm, S seeds against bmm).

Columns: S=1, S=10 (per seed) and plain in generator steps/s; xS=1 the batched per-seed rate over S=1;
S1/pl the S=1 rate over the plain loop's (above 1: modegan's step is faster); MFLOP per step and seed;
GF/s achieved by S=1 and by the batch, each with its share of the mm or bmm rate (mm GF/s, bmm GF/s).

The closing estimate is the paper's comparison (gan, diwgan, unrolled, veegan x 4 mixtures x 10 seeds, 20,000
steps) from the measured per-seed rates, batched where a preset batches, with --procs processes running side by
side at those rates (2 on the 2-core development machine: one 1-thread process per core); training steps only
(no evaluations, set-up or plots). The FLOP bound is the same work at the GEMM rate on every process.

    python benchmarks/throughput.py [--presets gan,wgan-gp] [--device cpu|cuda] [--batch 256] [--seeds 10]
                                    [--threads 1] [--repeats 5] [--steps 40] [--procs 2] [--csv PATH]

On a GPU (--device cuda) the runs are placed by the library's train.device where the config has it (then the
draws are made on the device too); without it the networks and the training set are moved with `.to(device)`
here and the random draws stay on each run's host generator and are copied over. Every timed step on a GPU
ends with a synchronisation.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modegan.config import TrainConfig, build_config  # noqa: E402
from modegan.data import load_dataset  # noqa: E402
from modegan.malloc import tune_malloc  # noqa: E402
from modegan.nets.batched import BatchedGenerator  # noqa: E402
from modegan.presets import PRESETS  # noqa: E402
from modegan.train import batched as batched_mod  # noqa: E402
from modegan.train.batched import BatchedParts, batched_train_step  # noqa: E402
from modegan.train.flops import step_flops  # noqa: E402
from modegan.train.parts import Parts, attach_diwgan, build_parts  # noqa: E402
from modegan.train.steps import train_step  # noqa: E402
from step_speed import interleaved, make_plain_step  # noqa: E402

PAPER = ("gan", "diwgan", "unrolled", "veegan")
PAPER_RUNS, PAPER_STEPS = 4 * 10, 20_000  # 4 mixtures x 10 seeds, 20,000 generator steps each
DATA = "grid25"
# Whether the library places a run itself (train.device, modegan.device); else this benchmark moves it.
LIBRARY_DEVICE = "device" in {f.name for f in dataclasses.fields(TrainConfig)}


def toy_presets() -> list[str]:
    """The presets that run on toy data (an MLP run on a 2-D mixture)."""
    names = []
    for name in PRESETS:
        try:
            if build_config(preset=name, overrides={"data": {"name": DATA}}).model.arch == "mlp":
                names.append(name)
        except Exception:  # noqa: BLE001 - a preset that does not take toy data
            continue
    return names


def config(name: str, batch: int, seed: int = 0, device: str = "cpu"):
    over = {"data": {"name": DATA}, "train": {"batch_size": batch, "seed": seed}}
    if LIBRARY_DEVICE:
        over["train"]["device"] = device  # explicit: train.device auto would take a GPU for a cpu run
    if PRESETS[name].settings.get("diwgan", {}).get("enabled"):
        over["diwgan"] = {"ae_steps": 50}  # a briefly trained autoencoder: speed only
    return build_config(preset=name, overrides=over)


def has_plain(cfg) -> bool:
    """Whether step_speed.make_plain_step writes this preset's step by hand."""
    w, s, m, lc = cfg.weighting, cfg.scheme, cfg.model, cfg.loss
    return (not (w.gen or w.disc_fake or w.disc_real) and s.pack == 1 and not s.unroll and not s.veegan
            and not cfg.diwgan.enabled and lc.type in ("nonsaturating", "wasserstein") and lc.gp_center == 1.0
            and m.g_norm == m.d_norm == "none" and not m.spectral_norm and m.activation == "relu"
            and cfg.g_optim.weight_decay == cfg.d_optim.weight_decay == 0)


# --- placing a run on a device (benchmark only) ---------------------------------------------------------------


def host_drawn(device: torch.device):
    """Patch the two library draws that ask the run's host generator for a tensor on the parts' device."""
    from modegan.losses import constraints

    eps = constraints.interpolation_eps

    def interpolation_eps(real, generator, group=1):
        return eps(torch.empty(real.shape, dtype=real.dtype), generator, group).to(real.device)

    constraints.interpolation_eps = interpolation_eps
    batched_mod.interpolation_eps = interpolation_eps


def to_device(parts, device: torch.device):
    """Move a run's (or a batch's) networks to `device`; z is drawn on the host generator and copied over."""
    for module in parts.modules().values() if isinstance(parts, Parts) else (parts.G, parts.D):
        module.to(device)
    if isinstance(parts.G, BatchedGenerator):
        sample_z = parts.G.sample_z
        parts.G.sample_z = lambda n, generators: sample_z(n, generators).to(device)
    else:
        z_dim = parts.G.z_dim
        parts.G.sample_z = lambda n, generator: torch.randn(n, z_dim, generator=generator).to(device)
    return parts


# --- the timed callables ------------------------------------------------------------------------------------


def synced(fn, device: torch.device):
    if device.type != "cuda":
        return fn

    def step():
        fn()
        torch.cuda.synchronize()

    return step


def single_step(cfg, data, train, device):
    parts = build_parts(cfg, data.dim)
    if cfg.diwgan.enabled:
        attach_diwgan(parts, data.train, None)
    if device.type != "cpu" and not LIBRARY_DEVICE:
        to_device(parts, device)
    return functools.partial(train_step, parts, train, cfg.train.batch_size)


def batched_step(name, batch, seeds, data, train, device):
    runs = []
    for s in range(seeds):
        cfg = config(name, batch, s, str(device))
        runs.append(build_parts(cfg, data.dim))
        if cfg.diwgan.enabled:  # once DIWGAN batches, its seeds come with their own autoencoders
            attach_diwgan(runs[-1], data.train, None)
    bp = BatchedParts.stack(runs)
    if device.type != "cpu" and not LIBRARY_DEVICE:
        to_device(bp, device)
    return functools.partial(batched_train_step, bp, train, batch)


def gemm(rows: int, width: int, seeds: int, device: torch.device, reps: int = 10):
    """(callable, FLOPs per call): `reps` products of the step's shape, one (mm) or `seeds` at once (bmm)."""
    g = torch.Generator().manual_seed(0)
    shape = (rows, width) if seeds == 1 else (seeds, rows, width)
    a = torch.randn(shape, generator=g).to(device)
    w = torch.randn(shape[:-2] + (width, width), generator=g).to(device)
    out = torch.empty(shape, device=device)
    op = torch.mm if seeds == 1 else torch.bmm

    def run():
        for _ in range(reps):
            op(a, w, out=out)

    return run, reps * 2 * seeds * rows * width * width


# --- the table ------------------------------------------------------------------------------------------------


def measure(name: str, args, data, train, device) -> dict:
    cfg = config(name, args.batch, device=str(device))
    flops = step_flops(cfg, data.dim)["total"]
    reason = batched_mod.batch_unsupported(cfg)
    rows, width = args.batch * cfg.scheme.pack, max(cfg.model.g_width, cfg.model.d_width)
    fns, errors = {}, {}
    for key, make in (
        ("single", lambda: single_step(cfg, data, train, device)),
        ("batched", None if reason else lambda: batched_step(name, args.batch, args.seeds, data, train, device)),
        ("plain", (lambda: make_plain_step(cfg, train, device)) if has_plain(cfg) else None),
    ):
        if make is None:
            continue
        try:
            fn = synced(make(), device)
            fn()  # a column that fails on its first step is reported, the others still run
            fns[key] = fn
        except Exception as e:  # noqa: BLE001 - one failing column is reported, the others still run
            errors[key] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    g1, g1_flops = gemm(rows, width, 1, device)
    gs, gs_flops = gemm(rows, width, args.seeds, device)
    fns["gemm1"], fns["gemmS"] = synced(g1, device), synced(gs, device)
    try:
        t = interleaved(fns, args.steps, args.repeats)
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
        return {"preset": name, "error": msg}
    r = {"preset": name, "batched": "yes" if not reason else "falls back", "reason": reason or "",
         "mflop_per_step": flops / 1e6, "gemm_gflops": g1_flops / t["gemm1"] / 1e9,
         "bmm_gflops": gs_flops / t["gemmS"] / 1e9, "error": "; ".join(f"{k}: {v}" for k, v in errors.items())}
    if "single" in t:
        r["single_steps_s"] = 1 / t["single"]
        r["single_gflops"] = flops / t["single"] / 1e9
        r["single_share"] = r["single_gflops"] / r["gemm_gflops"]
    if "batched" in t:
        r["batched_steps_s_seed"] = args.seeds / t["batched"]
        r["batched_gflops"] = args.seeds * flops / t["batched"] / 1e9
        r["batched_share"] = r["batched_gflops"] / r["bmm_gflops"]
        if "single" in t:
            r["batched_vs_single"] = r["batched_steps_s_seed"] / r["single_steps_s"]
    if "plain" in t:
        r["plain_steps_s"] = 1 / t["plain"]
        if "single" in t:
            r["single_vs_plain"] = r["single_steps_s"] / r["plain_steps_s"]
    return r


def fmt(r: dict, key: str, spec: str, missing: str = "-") -> str:
    return format(r[key], spec) if key in r else missing


COLUMNS = ("preset", "batched", "single_steps_s", "batched_steps_s_seed", "batched_vs_single", "plain_steps_s",
           "single_vs_plain", "mflop_per_step", "single_gflops", "single_share", "batched_gflops",
           "batched_share", "gemm_gflops", "bmm_gflops", "reason", "error")


def print_row(r: dict, seeds: int) -> None:
    if "batched" not in r:
        print(f"{r['preset']:<14} failed: {r['error']}")
        return
    s10 = fmt(r, "batched_steps_s_seed", "10.1f") if r["batched"] == "yes" else f"{'falls back':>10}"
    print(f"{r['preset']:<14} {fmt(r, 'single_steps_s', '8.1f'):>8} {s10:>10} {fmt(r, 'batched_vs_single', '6.2f'):>6}"
          f" {fmt(r, 'plain_steps_s', '8.1f'):>8} {fmt(r, 'single_vs_plain', '6.2f'):>6}"
          f" {r['mflop_per_step']:8.1f} {fmt(r, 'single_gflops', '7.2f'):>7} {fmt(r, 'single_share', '6.1%'):>6}"
          f" {fmt(r, 'batched_gflops', '7.2f'):>7} {fmt(r, 'batched_share', '6.1%'):>6}"
          f" {r['gemm_gflops']:7.1f} {r['bmm_gflops']:7.1f}" + (f"  [{r['error']}]" if r["error"] else ""))


def estimate(rows: list[dict], procs: int) -> None:
    by = {r["preset"]: r for r in rows if "batched" in r}
    missing = [p for p in PAPER if p not in by or "single_steps_s" not in by[p]]
    if missing:
        print(f"\npaper estimate: not measured for {', '.join(missing)} (add them to --presets)")
        return
    wall = bound = 0.0
    parts = []
    for p in PAPER:
        r = by[p]
        rate = max(r.get("batched_steps_s_seed", 0.0), r["single_steps_s"])  # per seed
        seconds = PAPER_RUNS * PAPER_STEPS / rate
        wall += seconds
        bound += PAPER_RUNS * PAPER_STEPS * r["mflop_per_step"] * 1e6 / (max(r["gemm_gflops"], r["bmm_gflops"]) * 1e9)
        parts.append(f"{p} {seconds / 3600:.1f} h at {rate:.0f} steps/s/seed"
                     f"{' (batched)' if rate == r.get('batched_steps_s_seed') else ''}")
    print(f"\npaper comparison ({', '.join(PAPER)} x 4 mixtures x 10 seeds x {PAPER_STEPS:,} steps), "
          f"{procs} processes: "
          f"{wall / procs / 3600:.1f} h of training steps on this machine "
          f"(one process: {'; '.join(parts)}); FLOP bound at the measured GEMM rate: {bound / procs / 3600:.2f} h")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="", help="comma-separated (default: every toy preset)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seeds", type=int, default=10, help="S of the batched column")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved blocks per column")
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    ap.add_argument("--procs", type=int, default=2, help="processes side by side in the paper estimate")
    ap.add_argument("--csv", help="also write the table to this CSV file")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda.is_available() is False")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {args.device}: cpu or cuda")
    torch.set_num_threads(args.threads)
    tune_malloc()
    if device.type != "cpu" and not LIBRARY_DEVICE:
        host_drawn(device)
    names = [n for n in args.presets.split(",") if n] or toy_presets()
    data = load_dataset(DATA)
    train = data.train.to(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} thread(s)"
    print(f"{DATA}, batch {args.batch}, {where}, S = {args.seeds}, median of {args.repeats} interleaved blocks "
          f"of {args.steps} steps; steps/s are generator steps per second per seed")
    print(f"{'preset':<14} {'S=1':>8} {f'S={args.seeds}':>10} {'xS=1':>6} {'plain':>8} {'S1/pl':>6}"
          f" {'MFLOP':>8} {'S1 GF/s':>7} {'share':>6} {'SB GF/s':>7} {'share':>6} {'mm GF/s':>7} {'bmmGF/s':>7}")
    rows = []
    for name in names:
        r = measure(name, args, data, train, device)
        rows.append(r)
        print_row(r, args.seeds)
        sys.stdout.flush()
    estimate(rows, args.procs)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
