"""Time the Stacked-MNIST evaluation (benchmarks.md §4) on CPU: classifier features + predictions for 26,000
samples, modes/kl, then FD, KID and PRDC (k = 5) on 10,000 real vs 10,000 generated features (384-d).

The "generated" samples are 26,000 real stacks (not in the 10,000 real reference set), which makes the run a
sanity check too: modes should be near 1000 and kl near the 0.019 floor, precision/recall/coverage high.

    .venv/bin/python benchmarks/image_eval.py [--data DIR] [--classifier PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from modegan.data.images import load_stacked_mnist
from modegan.metrics.classifier import default_classifier_path, load_classifier
from modegan.metrics.images import frechet_distance, kid, prdc, stacked_kl, stacked_modes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("MODEGAN_DATA", "/work/shared/data/mnist"))
    p.add_argument("--classifier", default=str(default_classifier_path()))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=26_000)
    p.add_argument("--n-features", type=int, default=10_000)
    p.add_argument("--min-accuracy", type=float, default=0.992)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    times: dict[str, float] = {}
    t0 = start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        times[name] = now - t0
        t0 = now

    data = load_stacked_mnist(args.data)
    clf = load_classifier(args.classifier, min_accuracy=args.min_accuracy)
    order = torch.randperm(data.n, generator=torch.Generator().manual_seed(1))
    fake = data.batch(order[: args.n])
    real = data.batch(order[args.n : args.n + args.n_features])
    lap("load data + classifier, build batches")
    fake_feats, preds = clf.features_and_predict(fake)
    lap(f"classifier on {args.n} fake (features + predictions)")
    real_feats = clf.features(real)
    lap(f"classifier on {args.n_features} real")
    info = clf.describe()
    results = {"modes": stacked_modes(preds, info), "kl": stacked_kl(preds, info)}
    lap("modes + kl")
    ff = fake_feats[: args.n_features]
    results["fd"] = frechet_distance(real_feats, ff)
    lap("frechet distance")
    results["kid"] = kid(real_feats, ff)
    lap("kid")
    results.update(prdc(real_feats, ff, 5))
    lap("precision/recall/density/coverage")
    total = time.perf_counter() - start

    print(f"threads {torch.get_num_threads()}, python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"classifier accuracy {clf.accuracy:.4f}, sha256 {clf.sha256[:16]}…")
    for name, seconds in times.items():
        print(f"  {seconds:7.2f} s  {name}")
    print(f"  {total:7.2f} s  total")
    for name, metric in results.items():
        print(f"  {name:10s} {metric.value:.4f}")
    true_modes = torch.unique(data.modes[order[: args.n]]).numel()
    print(f"  (true label triples among the fake stand-ins: {true_modes} modes)")


if __name__ == "__main__":
    main()
