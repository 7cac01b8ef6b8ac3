"""The `modegan` command line: a thin layer over the Python API.

Bad input ends with one line on stderr (`error: ...`) and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import ProgressColumn
from rich.table import Table
from rich.text import Text

from modegan.errors import ModeganError
from modegan.malloc import tune_malloc

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train, evaluate and compare GANs for training stability and mode coverage.",
    pretty_exceptions_enable=False,
)
console = Console(markup=False)  # labels such as diwgan[diwgan.targets=kmeans] print as they are


@app.command()
def train(
    overrides: list[str] = typer.Argument(None, help="config overrides as key=value, e.g. loss.gp_weight=10"),
    preset: str | None = typer.Option(None, help="a preset name (see `modegan presets`)"),
    data: str | None = typer.Option(None, help="built-in dataset name, or a .yaml/.npy/.csv file; images: mnist, "
                                    "stacked-mnist, cifar10 or a folder of images"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="image data directory (sets data.dir; "
                                         "default $MODEGAN_DATA)"),
    steps: int | None = typer.Option(None, help="generator steps (also extends a resumed run)"),
    seed: int | None = typer.Option(None, help="training seed (the training set keeps data.seed)"),
    out: str | None = typer.Option(None, help="run directory to create"),
    config: Path | None = typer.Option(None, help="YAML config file"),
    resume: Path | None = typer.Option(None, help="continue the run in this directory"),
    overwrite: bool = typer.Option(False, help="replace a run already in --out"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (sets train.device; a resumed run "
                                      "continues where it trained unless given)"),
    dist_backend: str = typer.Option("auto", "--dist-backend", help="under torchrun with several processes: "
                                     "auto (nccl with CUDA, else gloo), gloo or nccl"),
    label_column: str | None = typer.Option(None, "--label-column", help="a .csv point cloud's label column (header "
                                            "name or 0-based index; sets data.label_column)"),
):
    """Train one run and write its run directory (under torchrun: on every process, rank 0 writing)."""
    from modegan.config import build_config
    from modegan.limits import MAX_STEPS, check_int, check_out_dir
    from modegan.train import train as run_train

    if resume is not None:
        if overrides or preset or data or data_dir or seed is not None or config or out is not None or label_column:
            raise ModeganError("--resume takes only --steps and --device; the run's config.yaml fixes everything else")
        if steps is not None:
            check_int(steps, "--steps", 1, MAX_STEPS)
        summary = run_train(resume=resume, steps=steps, progress=progress, device=device, backend=dist_backend)
    else:
        ov = _overrides(overrides, {"--data": ("data.name", data),
                                    "--data-dir": ("data.dir", None if data_dir is None else str(data_dir)),
                                    "--seed": ("train.seed", seed), "--steps": ("train.steps", steps),
                                    "--preset": ("preset", preset), "--device": ("train.device", device),
                                    "--label-column": ("data.label_column", label_column)})
        cfg = build_config(preset=preset, file=config, overrides=ov)
        if out is None:
            raise ModeganError("an output directory is needed (--out DIR)")
        summary = run_train(cfg, out=check_out_dir(out), overwrite=overwrite, progress=progress, backend=dist_backend)
    if _rank() != 0:
        return  # rank 0 of a torchrun launch prints the table
    _print_metrics(summary.get("metrics", {}), summary.get("protocol", {}), f"step {summary['step']}")


def _rank() -> int:
    import os

    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


@app.command()
def presets():
    """List every preset with its settings and source."""
    from modegan.config import flatten
    from modegan.presets import PRESETS

    for p in PRESETS.values():
        console.print(f"[bold]{p.name}[/bold]: {p.summary}", highlight=False, markup=True)
        console.print(f"  source: {p.source}", highlight=False)
        for k, v in flatten(p.settings).items():
            console.print(f"  {k}={v}", highlight=False)
        if p.notes:
            console.print(f"  note: {p.notes}", highlight=False)
        if p.theory:
            console.print(f"  theory: {p.theory}", highlight=False)
        console.print()


@app.command()
def datasets():
    """List the built-in toy datasets."""
    from modegan.data import DATASETS, load_dataset

    table = Table()
    for col in ("name", "dim", "modes", "source"):
        table.add_column(col)
    for name in DATASETS:
        d = load_dataset(name, n_train=10).describe()
        table.add_row(name, str(d["dim"]), str(d.get("n_modes") or "-"), str(d.get("source", "")))
    console.print(table)


@app.command("eval")
def eval_run(
    run: Path = typer.Argument(..., help="a run directory"),
    samples: int | None = typer.Option(None, help="number of generated samples (default: the run's)"),
    seed: int | None = typer.Option(None, help="evaluation seed (default: the run's)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    device: str = typer.Option("cpu", help="where the generator runs: auto, cpu, cuda, cuda:N or mps"),
):
    """Evaluate a run's generator with the toy metrics."""
    from modegan.config import validate
    from modegan.data import load_dataset
    from modegan.train import evaluate, load
    from modegan.train.run import metric_values
    from modegan.train.rundir import RunDir

    cfg = RunDir(run).read_config()
    if samples is not None:
        cfg.train.eval_samples = samples
        if cfg.train.feature_samples is not None:  # images: the features come from the first samples
            cfg.train.feature_samples = min(cfg.train.feature_samples, samples)
    if seed is not None:
        cfg.train.eval_seed = seed
    validate(cfg)
    from modegan.fit import eval_dataset, is_fit_run

    if is_fit_run(run):  # the rows stored with a modegan.fit run, and its metric networks
        dataset = eval_dataset(run, cfg)
    else:
        d = cfg.data
        dataset = load_dataset(d.name, seed=d.seed, n_train=d.n_train, classes=d.classes, label_column=d.label_column,
                               labels=d.labels)
    metrics, _ = evaluate(load(run, device), dataset, cfg)
    values = metric_values(metrics)
    protocol = {k: m.protocol for k, m in metrics.items()}
    if as_json:
        print(json.dumps({"run": str(run), "metrics": values, "protocol": protocol}, indent=2))
    else:
        _print_metrics(values, protocol, str(run))


@app.command()
def sample(
    run: Path = typer.Argument(..., help="a run directory"),
    n: int = typer.Option(1000, "-n", help="number of samples"),
    output: str = typer.Option(..., "-o", "--output", help="output .npy file"),
    seed: int = typer.Option(0, help="sampling seed"),
    device: str = typer.Option("cpu", help="where the generator runs: auto, cpu, cuda, cuda:N or mps (the z are "
                               "drawn on the CPU, so the samples do not depend on it beyond rounding)"),
    class_: int | None = typer.Option(None, "--class", help="a conditional run: every sample of this class"),
    labels: Path | None = typer.Option(None, "--labels", help="a conditional run: a .npy or text file of one "
                                       "class index per sample (sets -n)"),
    truncation: float | None = typer.Option(None, help="redraw every z coordinate beyond +-this (truncation trick)"),
):
    """Write samples from a run's generator to a .npy file."""
    import numpy as np

    from modegan.limits import check_out_file
    from modegan.train import sample as draw

    output = check_out_file(output, "-o", suffix=".npy")  # n, seed and the size are checked by `sample`
    if class_ is not None and labels is not None:
        raise ModeganError("give --class or --labels, not both")
    given = class_ if labels is None else read_labels(labels)
    if labels is not None:
        n = len(given)
    x = draw(run, n, seed, device, labels=given, truncation=truncation).numpy()
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, x)
    what = "" if given is None else f" of class {class_}" if class_ is not None else f" with the labels of {labels}"
    console.print(f"wrote {x.shape[0]} samples{what} of shape {tuple(x.shape[1:])} to {output}")


def read_labels(path: Path) -> list[int]:
    """One class index per sample from a .npy file (1-D integers) or a text file (whitespace-separated)."""
    import numpy as np

    if not path.is_file():
        raise ModeganError(f"--labels: file not found: {path}")
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            values = np.array([float(v) for v in path.read_text(encoding="utf-8").split()])
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise ModeganError(f"--labels {path}: cannot read class indices ({str(e).splitlines()[0]})") from None
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ModeganError(f"--labels {path}: expected one class index per sample (a 1-D list), got shape "
                           f"{values.shape}")
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise ModeganError(f"--labels {path}: class indices must be integers")
    if values.dtype.kind not in "iuf":
        raise ModeganError(f"--labels {path}: class indices must be integers, got {values.dtype}")
    return [int(v) for v in values]


@app.command()
def interpolate(
    run: Path = typer.Argument(..., help="a run directory"),
    output: str = typer.Option(..., "-o", "--output", help="output .png (a grid) or .npy (rows x columns x sample)"),
    steps: int = typer.Option(10, help="points along each path, end points included"),
    rows: int = typer.Option(8, help="paths (grid rows)"),
    seed: int = typer.Option(0, help="sampling seed"),
    class_: int | None = typer.Option(None, "--class", help="a conditional run: every path of this class"),
    across_classes: bool = typer.Option(False, "--across-classes", help="a conditional run: a fixed z per row, "
                                        "the columns every class in turn"),
    truncation: float | None = typer.Option(None, help="redraw every z coordinate beyond +-this (truncation trick)"),
    device: str = typer.Option("cpu", help="where the generator runs: auto, cpu, cuda, cuda:N or mps"),
):
    """Samples along latent paths (slerp between Gaussian z), or across the classes of a conditional run."""
    import numpy as np

    from modegan.limits import check_out_file
    from modegan.train.control import interpolate as grid

    out = check_out_file(output, "-o")
    if out.suffix not in (".png", ".npy"):
        raise ModeganError(f"-o must be a .png or .npy file, got {out}")
    x, labels = grid(run, steps=steps, rows=rows, seed=seed, device=device, labels=class_,
                     across_classes=across_classes, truncation=truncation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x.numpy())
    else:
        from modegan.report.plots import interpolation_png

        interpolation_png(out, x, labels, run)
    console.print(f"wrote a {x.shape[0]} x {x.shape[1]} grid of samples to {out}")


@app.command()
def lesson(
    name: str | None = typer.Argument(None, help="the lesson to run; none lists them"),
    out: str = typer.Option("lessons", help="directory for NAME.html and NAME.json"),
    as_json: bool = typer.Option(False, "--json", help="print the lesson's numbers as JSON instead of a summary"),
    quick: bool = typer.Option(False, help="fewer samples and steps (seconds, for tests)"),
):
    """Run a lesson: its numbers from the library's own code, one self-contained HTML page and a JSON file."""
    from modegan.lessons import LESSONS, get_lesson, run
    from modegan.lessons.page import json_safe
    from modegan.limits import check_out_dir

    if name is None:
        for lesson in LESSONS.values():
            print(f"{lesson.name}: {lesson.summary}")
        return
    get_lesson(name)  # an unknown name is one line listing the lessons, before anything is written
    result = run(name, out=check_out_dir(out), quick=quick)
    if as_json:
        print(json.dumps(json_safe(result), indent=1))
    else:
        console.print(f"{name}: {result['html']} and {result['json']} in {result['elapsed_s']:.1f} s", highlight=False)


@app.command()
def demo(
    out: str = typer.Option("runs/demo", help="where the runs, results and report go"),
    data: str = typer.Option("ring8", help="comma-separated datasets"),
    steps: int = typer.Option(10_000, help="generator steps per run (default: where ring8 has converged)"),
    presets: str | None = typer.Option(None, help="comma-separated presets (default: the demo set)"),
    seeds: int = typer.Option(2, help="seeds per preset and dataset"),
    workers: int = typer.Option(2, help="runs trained at once, one process and one torch thread each"),
):
    """`bench mog` on a converged small setting (ring8, 10,000 steps): the demo presets, a table and report.html."""
    from modegan.bench.eta import Eta, duration_text
    from modegan.bench.mog import plan_mog
    from modegan.bench.results import cells, flagged, flags, metric_names, reference_value, references
    from modegan.bench.suite import check_workers
    from modegan.demo import DEMO_PRESETS, run_demo

    names = _names(presets, "--presets") if presets is not None else list(DEMO_PRESETS)
    datasets = _names(data, "--data")
    plan = plan_mog(out, methods=names, datasets=datasets, seeds=seeds, steps=steps)  # every check, nothing written
    check_workers(workers)
    eta = Eta(plan.specs, workers)
    console.print(f"training {len(names)} presets x {seeds} seeds on {data} for {steps} steps, {workers} worker(s): "
                  f"expected about {duration_text(eta.remaining())} (measured step rates, bench/eta.py)",
                  highlight=False)

    def done(job, res):
        eta.finished(job, res)
        console.print(f"  {job[0].dataset} / {job[0].method} / seeds {', '.join(str(s.seed) for s in job)}: "
                      + ", ".join(r["status"] for r in res) + f"; ~{duration_text(eta.remaining())} left",
                      highlight=False)

    rows = run_demo(plan.out, datasets=datasets, steps=steps, presets=names, seeds=seeds, workers=workers,
                    on_done=done)
    metrics = metric_names(rows)
    table_cells = cells(rows, metrics)
    refs, _ = references(rows)
    noisy = flags(table_cells, refs)
    for d, methods in table_cells.items():
        table = Table(title=f"{d}, {steps} generator steps, mean (std) over {seeds} seed(s)")
        for c in ("preset", *metrics, "s/run"):
            table.add_column(c, justify="right")
        for label, values in refs.get(d, {}).items():
            table.add_row(label, *(reference_value(values.get(k)) for k in metrics), "-")
        for m, cs in methods.items():
            secs = "-" if not cs["elapsed_s"].values else f"{cs['elapsed_s'].mean:.0f}"
            table.add_row(m, *(flagged(cs[k], k, noisy[d][m]) for k in metrics), secs)
        console.print(table)
    console.print(f"report in {out}/report.html (tables in results.md, per-run rows in results.csv)")


@app.command()
def download(
    dataset: str = typer.Argument(..., help="the dataset to fetch: mnist"),
    data_dir: Path = typer.Option(..., "--data-dir", help="directory to put the files in (then pass it as --data-dir)"),
):
    """Fetch a dataset's files from its public mirrors, each kept only if its checksum matches (needs a network)."""
    from modegan.data import idx
    from modegan.errors import choice_error

    if dataset != "mnist":
        raise choice_error("downloadable dataset", dataset, ["mnist"])
    idx.download_mnist(data_dir, mirrors=idx.MNIST_MIRRORS)  # files already there are kept
    console.print(f"MNIST in {data_dir} (verified); train on it with --data-dir {data_dir}", highlight=False)


classifier_app = typer.Typer(no_args_is_help=True, help="The MNIST evaluation classifier (benchmarks.md §4).")
app.add_typer(classifier_app, name="classifier")


@classifier_app.command("train")
def classifier_train(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="MNIST directory (default $MODEGAN_DATA)"),
    out: str | None = typer.Option(None, help="classifier file (default: $MODEGAN_CACHE or ~/.cache/modegan)"),
    epochs: int = typer.Option(8, help="training epochs"),
    seed: int = typer.Option(0, help="initialisation and shuffling seed"),
    threads: int = typer.Option(2, help="torch CPU threads"),
    device: str = typer.Option("cpu", help="where the net trains: auto, cpu, cuda, cuda:N or mps"),
):
    """Train your own MNIST CNN (60,000 training digits, checked on the 10,000 test digits) and save it."""
    import torch

    from modegan.data.images import load_mnist
    from modegan.device import resolve_device
    from modegan.limits import MAX_EPOCHS, MAX_THREADS, check_int, check_out_file, check_seed
    from modegan.metrics.classifier import TARGET_ACCURACY, is_shipped, train_classifier, trained_classifier_path

    check_int(threads, "--threads", 1, MAX_THREADS)
    check_int(epochs, "--epochs", 1, MAX_EPOCHS)
    check_seed(seed, "--seed")
    path = check_out_file(out if out is not None else trained_classifier_path(), "--out")
    if is_shipped(path):
        raise ModeganError(f"--out {path} is the shipped classifier; save your own elsewhere")
    if data_dir is not None and not data_dir.is_dir():
        raise ModeganError(f"--data-dir {data_dir} does not exist or is not a directory")
    place = resolve_device(device, "--device")
    train_set, test_set = load_mnist(data_dir, split="train"), load_mnist(data_dir, split="test")
    torch.set_num_threads(threads)
    command = f"modegan classifier train --data-dir DIR --epochs {epochs} --seed {seed} --threads {threads}"
    clf = train_classifier(train_set, test_set, epochs=epochs, generator=torch.Generator().manual_seed(seed),
                           path=path, log=console.print, command=command, device=place)
    console.print(f"test accuracy {clf.accuracy:.4f} on {test_set.n} digits after {clf.protocol['train_seconds']} s "
                  f"({threads} threads); saved to {clf.path}\nsha256 {clf.sha256}\n"
                  f"use it with train.classifier={clf.path} (the shipped classifier is the default)", highlight=False)
    if clf.accuracy < TARGET_ACCURACY:
        raise ModeganError(f"test accuracy {clf.accuracy:.4f} is below the required {TARGET_ACCURACY}; "
                           "train longer (--epochs) or with another --seed")


@classifier_app.command("check")
def classifier_check(
    path: Path | None = typer.Option(None, help="classifier file (default: the shipped one)"),
):
    """Load the classifier (default: the shipped one), verify its checksum and show its accuracy and protocol."""
    from modegan.metrics.classifier import load_classifier

    clf = load_classifier(path)
    console.print(f"{clf.path}: test accuracy {clf.accuracy:.4f}, sha256 {clf.sha256} (verified)", highlight=False)
    for k, v in clf.protocol.items():
        if not isinstance(v, (dict, list)):
            console.print(f"  {k}: {v}", highlight=False)


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: methods x datasets x seeds, with a report.")
# every bench command's --first-seed: the seeds are first_seed..first_seed+N-1
FIRST_SEED = typer.Option(0, help="the first seed; --first-seed 3 --seeds 2 adds seeds 3 and 4 to a table")
app.add_typer(bench_app, name="bench")


def _names(text: str, flag: str) -> list[str]:
    """A comma-separated list of names: none empty, none twice (`--methods ,` is an error, not "every preset")."""
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise ModeganError(f"{flag}: empty name in {text!r}; give comma-separated names, e.g. gan,wgan")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ModeganError(f"{flag}: {', '.join(twice)} given twice")
    return names


def _overrides(items: list[str] | None, flags: dict[str, tuple[str, object]]) -> dict:
    """key=value overrides, every value type-checked, merged with the flags that set config keys; a key set by
    both a flag and an override is an error (neither silently wins)."""
    from modegan.config import check_types, flatten, merge, parse_overrides

    ov = parse_overrides(items or [])
    check_types(ov)
    given = flatten(ov)
    for flag, (key, value) in flags.items():
        if value is None:
            continue
        if key in given:
            raise ModeganError(f"{key} is set twice, by {flag} and by the override {key}={given[key]}; give it once")
        node: dict = {}
        *sections, last = key.split(".")
        leaf = node
        for sec in sections:
            leaf = leaf.setdefault(sec, {})
        leaf[last] = value
        ov = merge(ov, node)
    return ov


@bench_app.command("mog")
def bench_mog(
    overrides: list[str] = typer.Argument(None, help="config overrides for every run, as key=value"),
    out: str = typer.Option("runs/bench-mog", help="benchmark directory (runs, results, report)"),
    methods: str | None = typer.Option(None, help="comma-separated presets (default: every preset)"),
    datasets: str | None = typer.Option(None, help="comma-separated datasets or toy data files (default: ring8,"
                                        "grid25,grid25-random,cube27)"),
    seeds: int = typer.Option(10, help="seeds per method and dataset, from --first-seed (0..N-1)"),
    first_seed: int = FIRST_SEED,
    steps: int = typer.Option(20_000, help="generator steps, the same for every method (default: the budget "
                              "study's converged budget)"),
    eval_every: int = typer.Option(0, help="evaluation cadence (default: steps / 8)"),
    workers: int = typer.Option(2, help="local processes, one torch thread each"),
    batch: bool = typer.Option(True, help="train the seeds of a setting as one batch of stacked models"),
    ray: str | None = typer.Option(None, help="a Ray cluster address, or 'local' to start one here"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (default: train.device, auto)"),
):
    """Train methods x datasets x seeds; write results.csv, results.md and report.html. Rerun to resume."""
    from modegan.bench.mog import plan_mog
    from modegan.config import parse_overrides

    plan = plan_mog(out, methods=_opt_names(methods, "--methods"), datasets=_opt_names(datasets, "--datasets"),
                    seeds=seeds, steps=steps, eval_every=eval_every or None, overrides=parse_overrides(overrides or []),
                    device=device, first_seed=first_seed)
    _run_bench(plan, workers=workers, batch=batch, ray=ray)


@bench_app.command("stacked-mnist")
def bench_stacked(
    overrides: list[str] = typer.Argument(None, help="config overrides for every run, as key=value"),
    out: str = typer.Option("runs/bench-stacked-mnist", help="benchmark directory"),
    methods: str | None = typer.Option(None, help="comma-separated presets (default: gan, pacgan2-4, unrolled, veegan, "
                                "diwgan)"),
    settings: str = typer.Option("veegan,unrolled", help="veegan (equal widths) and/or unrolled (D = G/4)"),
    seeds: int = typer.Option(3, help="seeds per method and setting, from --first-seed (0..N-1)"),
    first_seed: int = FIRST_SEED,
    steps: int = typer.Option(2000, help="generator steps, the same for every method"),
    eval_every: int = typer.Option(0, help="evaluation cadence (default: steps / 4)"),
    data_dir: str | None = typer.Option(None, help="directory with the MNIST files (default: $MODEGAN_DATA)"),
    classifier: str | None = typer.Option(None, help="MNIST classifier file (default: the cached one)"),
    workers: int = typer.Option(1, help="local processes"),
    ray: str | None = typer.Option(None, help="a Ray cluster address, or 'local' to start one here"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (default: train.device, auto)"),
):
    """Stacked MNIST (1000 modes) in the VEEGAN and Unrolled settings; outputs and resume as bench mog."""
    from modegan.bench.stacked import plan_stacked
    from modegan.config import parse_overrides

    plan = plan_stacked(out, methods=_opt_names(methods, "--methods"), settings=_names(settings, "--settings"),
                        seeds=seeds, steps=steps, first_seed=first_seed,
                        eval_every=eval_every or None, data_dir=data_dir, classifier=classifier,
                        overrides=parse_overrides(overrides or []), device=device)
    _run_bench(plan, workers=workers, ray=ray)


@bench_app.command("budget")
def bench_budget(
    overrides: list[str] = typer.Argument(None, help="config overrides for every run, as key=value"),
    out: str = typer.Option("runs/bench-budget", help="benchmark directory (runs, budget and results, reports)"),
    methods: str | None = typer.Option(None, help="comma-separated presets (default: gan, wgan-gp-toy, iwgan, "
                                       "diwgan, unrolled, veegan, pacgan2)"),
    datasets: str | None = typer.Option(None, help="comma-separated datasets or toy data files (default: ring8,"
                                        "grid25)"),
    seeds: int = typer.Option(3, help="seeds per method and dataset, from --first-seed (0..N-1)"),
    first_seed: int = FIRST_SEED,
    steps: int = typer.Option(50_000, help="generator steps of the longest budget studied"),
    eval_every: int = typer.Option(2_000, help="evaluate (and checkpoint) every this many steps"),
    workers: int = typer.Option(2, help="local processes, one torch thread each"),
    batch: bool = typer.Option(True, help="train the seeds of a setting as one batch of stacked models"),
    ray: str | None = typer.Option(None, help="a Ray cluster address, or 'local' to start one here"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (default: train.device, auto)"),
):
    """Metrics against the training budget: budget.csv, budget.md (plateaus), budget.html. Rerun to resume."""
    from modegan.bench.budget import plan_budget
    from modegan.config import parse_overrides

    plan = plan_budget(out, methods=_opt_names(methods, "--methods"), datasets=_opt_names(datasets, "--datasets"),
                       seeds=seeds, steps=steps, eval_every=eval_every, overrides=parse_overrides(overrides or []),
                       device=device, first_seed=first_seed)
    _run_bench(plan, workers=workers, batch=batch, ray=ray)


def _opt_names(text: str | None, flag: str) -> list[str] | None:
    return None if text is None else _names(text, flag)


def _run_bench(plan, **kw) -> None:
    """Run a checked plan with a progress bar over its runs and an ETA; failures are printed as they come."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from modegan.bench.eta import Eta, duration_text
    from modegan.bench.runs import check_existing, state
    from modegan.bench.suite import check_workers, run_planned

    check_workers(kw["workers"])
    check_existing(plan.specs)  # before the ETA: a refused plan prints one line
    eta = Eta(plan.specs, kw["workers"], kw.get("batch", True))
    with Progress(TextColumn(f"[bold]bench {plan.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  _EtaColumn(eta), TextColumn("{task.fields[info]}"), console=console) as bar:
        done_before = sum(state(s) == "done" for s in plan.specs)
        task = bar.add_task("runs", total=len(plan.specs), completed=done_before, info="")
        bar.console.print(f"expected: about {duration_text(eta.remaining())} for "
                          f"{len(plan.specs) - done_before} run(s) to train", highlight=False)

        def done(job, results):
            eta.finished(job, results)
            bar.advance(task, len(results))
            for spec, r in zip(job, results, strict=True):
                if r["status"] != "finished":
                    where = f"{spec.dataset} / {spec.method} / seed {spec.seed}"
                    bar.console.print(f"  {where}: {r['status']}: {r['error']}")
            bar.update(task, info=f"{job[0].dataset} / {job[0].method}")

        rows = run_planned(plan, on_done=done, **kw)
    n_bad = sum(r.status != "finished" for r in rows)
    console.print(f"{len(rows)} runs ({n_bad} not finished); results in {plan.out}/ ({plan.outputs})")


class _EtaColumn(ProgressColumn):
    """Time left: the pending runs' steps at the seconds per step measured so far (`bench.eta.Eta`)."""

    def __init__(self, eta):
        super().__init__()
        self.eta = eta

    def render(self, task):
        from modegan.bench.eta import duration_text

        return Text(f"~{duration_text(self.eta.remaining())} left", style="progress.remaining")


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="run directories, or directories holding runs"),
    out: str = typer.Option("runs/compare", help="where results.csv, results.md and report.html go"),
    diff: str = typer.Option("", help="A,B: bootstrap interval for mean(A) - mean(B) on --metric; A,* for A "
                             "against every other method"),
    metric: str = typer.Option("modes", help="metric for --diff"),
    dataset: str = typer.Option("", help="dataset for --diff (default: every dataset both methods ran on)"),
    level: float = typer.Option(0.95, help="confidence level for --diff"),
    report: bool = typer.Option(True, help="write results and report.html to --out"),
    at: int = typer.Option(0, help="compare every run as it stood at this step's evaluation (e.g. a budget "
                           "study's runs at the converged budget); default: each run's final metrics"),
):
    """Build the bench tables and report from any existing runs; optionally a bootstrap CI of a difference."""
    from modegan.bench.results import collect
    from modegan.bench.stats import bootstrap_diff
    from modegan.bench.suite import write_comparison
    from modegan.limits import MAX_STEPS, check_int, check_out_dir

    if at:
        check_int(at, "--at", 1, MAX_STEPS)
    out_dir = check_out_dir(out) if report else None
    rows = collect(run_dirs, at=at or None)
    diffs = _diff_values(rows, diff, metric, dataset, level) if diff else []  # every check before anything is written
    if report:
        write_comparison(rows, run_dirs, out_dir, at=at or None)
        console.print(f"{len(rows)} runs; results in {out_dir}/ (results.md, results.csv, report.html)")
    for d, pair, vals in diffs:
        ci = bootstrap_diff(vals[0], vals[1], level=level)
        console.print(f"{d}: {metric}, {pair[0]} - {pair[1]} = {ci.format()}")


def _diff_values(rows, diff: str, metric: str, dataset: str, level: float, skip_unshared: bool = False) -> list:
    """Check --diff, --metric, --dataset and --level against the runs; (dataset, pair, values) per dataset."""
    from modegan.bench.results import metric_names

    pair = _names(diff, "--diff")
    if len(pair) != 2:
        raise ModeganError(f"--diff takes two methods as A,B (or A,*); got {diff!r}")
    if not 0 < level < 1:
        raise ModeganError(f"--level must be in (0, 1), got {level}")
    if metric not in metric_names(rows):
        allowed = ", ".join(metric_names(rows)) or "none (no run has metrics yet)"
        raise ModeganError(f"--metric {metric!r} is not a metric of these runs; allowed: {allowed}")
    known = sorted({r.method for r in rows})
    for i, m in enumerate(pair):
        if m not in known and not (i == 1 and m == "*"):
            raise ModeganError(f"method {m!r} is not among the runs; found: {', '.join(known)}")
    if pair[1] == "*":
        others = [m for m in known if m != pair[0] and (not dataset or any(
            r.method == m and r.dataset == dataset for r in rows))]
        if not others:
            raise ModeganError(f"--diff {diff}: no other method among the runs")
        return [d for m in others for d in _diff_values(rows, f"{pair[0]},{m}", metric, dataset, level,
                                                          skip_unshared=True)]
    shared = sorted({r.dataset for r in rows if r.method == pair[0]} & {r.dataset for r in rows if r.method == pair[1]})
    if dataset and dataset not in shared:
        raise ModeganError(f"--dataset {dataset!r} is not one both {pair[0]} and {pair[1]} ran on; "
                           f"allowed: {', '.join(shared) or 'none'}")
    ds = [dataset] if dataset else shared
    if not ds:
        if skip_unshared:
            return []
        raise ModeganError(f"{pair[0]} and {pair[1]} share no dataset")
    out = []
    for d in ds:
        vals = [[r.metrics[metric] for r in rows if r.dataset == d and r.method == m
                 and r.metrics.get(metric) is not None] for m in pair]
        if skip_unshared and not all(len(v) >= 2 for v in vals):
            continue  # A,*: a method without two finished values here has no interval; the others still print
        for m, v in zip(pair, vals, strict=True):
            if not v:
                raise ModeganError(f"{m} has no finished run with {metric} on {d}")
        out.append((d, pair, vals))
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _print_metrics(values: dict, protocol: dict, title: str) -> None:
    table = Table(title=title)
    for c in ("metric", "value", "protocol"):
        table.add_column(c)
    for k, v in values.items():
        proto = ", ".join(f"{pk}={pv}" for pk, pv in protocol.get(k, {}).items() if not isinstance(pv, (list, dict)))
        table.add_row(k, _fmt(v), proto)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. Bad input, usage errors included (a wrong type, a missing or unknown option), is one
    `error: ...` line on stderr and exit code 2, never a traceback; `--help` and no arguments show help."""
    # typer's own click (vendored as typer._click in recent typer, the click package before): its exceptions
    cx = sys.modules[typer.BadParameter.__module__]
    no_args = getattr(cx, "NoArgsIsHelpError", ())
    tune_malloc()
    try:
        from modegan.registry import load_plugins

        load_plugins()  # $MODEGAN_PLUGINS: modules that register losses, weightings, constraints
        code = app(args=argv, prog_name="modegan", standalone_mode=False)
    except ModeganError as e:
        if getattr(e, "quiet", False):  # another rank of a torchrun launch: rank 0 prints the line
            return 2
        return _error(str(e))
    except no_args as e:  # type: ignore[misc]
        e.show()
        return 2
    except cx.UsageError as e:
        where = f"; see {e.ctx.command_path} --help" if e.ctx is not None else ""
        return _error(f"{e.format_message().rstrip('.')}{where}")
    except cx.ClickException as e:
        return _error(e.format_message())
    except typer.Abort:
        return _error("aborted", 130)
    except OSError as e:  # an unwritable or vanished path found while writing
        what = f" {e.filename}" if e.filename else ""
        return _error(f"cannot access{what}: {e.strerror or type(e).__name__}")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code if isinstance(code, int) else 0


def _error(message: str, code: int = 2) -> int:
    """Print one `error:` line (newlines folded, so it stays one line) and return the exit code."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return code


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
