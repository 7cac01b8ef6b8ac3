"""The bad-input sweep (issue 14 §2): every subcommand, hit with unknown names, wrong types, out-of-range
numbers, malformed and missing files, gives one `error: ...` line on stderr, exit code 2, no traceback, and
writes nothing. Nothing here trains: reaching a training step fails the case.

`python tests/test_bad_inputs.py` prints how many cases the sweep has.
"""

from __future__ import annotations

import numpy as np
import pytest

# (argv with {tmp} (this case's directory), {f} (prepared bad files) and {run} (a finished tiny run),
#  a fragment the error line must contain)
SWEEP: dict[str, list[tuple[str, str]]] = {}


def cases(command: str, rows: list[tuple[str, str]]) -> None:
    SWEEP[command] = rows


OUT = "--out {tmp}/out --no-progress"
cases("train", [
    # usage errors: wrong types, unknown / incomplete options
    (f"train --steps abc {OUT}", "Invalid value for '--steps'"),
    (f"train --steps 1.5 {OUT}", "Invalid value for '--steps'"),
    (f"train --seed abc {OUT}", "Invalid value for '--seed'"),
    (f"train --bogus {OUT}", "No such option: --bogus"),
    ("train --no-progress --out", "requires an argument"),
    (f"train {OUT} --overwrite=maybe", "--overwrite"),
    # unknown names
    (f"train --preset wgan-xx {OUT}", "unknown preset 'wgan-xx'"),
    (f"train --data ring9 {OUT}", "unknown dataset 'ring9'"),
    (f"train preset=nope {OUT}", "unknown preset 'nope'"),
    (f"train loss.type=logistic {OUT}", "loss.type: 'logistic' is not allowed"),
    (f"train g_optim.name=lbfgs {OUT}", "g_optim.name: 'lbfgs' is not allowed"),
    (f"train model.activation=swish {OUT}", "model.activation: 'swish' is not allowed"),
    (f"train model.arch=resnet {OUT}", "model.arch: 'resnet' is not allowed"),
    (f"train weighting.gen=[bogus] {OUT}", "bogus"),
    (f"train diwgan.targets=all {OUT}", "diwgan.targets: 'all' is not allowed"),
    # override syntax and unknown keys
    (f"train noequals {OUT}", "bad override 'noequals'"),
    (f"train =5 {OUT}", "bad override '=5'"),
    (f"train loss.typo=1 {OUT}", "unknown config key 'loss.typo'"),
    (f"train typo.x=1 {OUT}", "unknown config key 'typo'"),
    (f"train train.steps.x=1 {OUT}", "train.steps: expected an integer"),
    (f"train train=1 {OUT}", "train: expected a mapping"),
    (f"train train=[1,2] {OUT}", "train: expected a mapping"),
    (f"train data=abc {OUT}", "data: expected a mapping"),
    # wrong types in overrides
    (f"train train.steps=abc {OUT}", "train.steps: expected an integer, got 'abc'"),
    (f"train train.steps=1.5 {OUT}", "train.steps: expected an integer"),
    (f"train train.plots=maybe {OUT}", "train.plots: expected true or false"),
    (f"train g_optim.betas=[0.5] {OUT}", "g_optim.betas: expected a list of 2 numbers"),
    (f"train g_optim.betas=abc {OUT}", "g_optim.betas: expected a list of 2 numbers"),
    (f"train g_optim.lr=fast {OUT}", "g_optim.lr: expected a number"),
    (f"train g_optim.lr=nan {OUT}", "g_optim.lr: expected a finite number"),
    (f"train g_optim.lr=inf {OUT}", "g_optim.lr: expected a finite number"),
    (f"train data.mode_probs=abc {OUT}", "data.mode_probs[0]: expected a number"),
    # a bad value is an error wherever it comes from, also where a flag sets the same key
    (f"train --steps 20 train.steps=abc {OUT}", "train.steps: expected an integer, got 'abc'"),
    (f"train --steps 20 train.steps=30 {OUT}", "train.steps is set twice, by --steps"),
    (f"train --seed 1 train.seed=-4 {OUT}", "train.seed is set twice, by --seed"),
    (f"train --data ring8 data.name=grid25 {OUT}", "data.name is set twice, by --data"),
    (f"train --preset gan preset=wgan {OUT}", "preset is set twice, by --preset"),
    # out-of-range numbers
    (f"train --steps 0 {OUT}", "train.steps: must be a positive integer"),
    (f"train --steps -5 {OUT}", "train.steps: must be a positive integer"),
    (f"train --steps 1000000000000 {OUT}", "train.steps: must be in [1, 1,000,000,000]"),
    (f"train --seed -1 {OUT}", "train.seed: must be in [0, 9,223,372,036,854,775,807]"),
    (f"train --seed 18446744073709551616 {OUT}", "train.seed: must be in [0, 9,223,372,036,854,775,807]"),
    (f"train --seed 1000000000000000000000000000000 {OUT}", "train.seed: must be in"),
    (f"train train.seed=1.0e+30 {OUT}", "train.seed: must be in"),
    (f"train train.seed=1e30 {OUT}", "train.seed: expected an integer"),
    (f"train data.seed=-1 {OUT}", "data.seed: must be in"),
    (f"train train.eval_seed=1180591620717411303424 {OUT}", "train.eval_seed: must be in"),
    (f"train g_optim.lr=1e300 {OUT}", "g_optim.lr: must be in (0, 10]"),
    (f"train g_optim.lr=0 {OUT}", "g_optim.lr: must be > 0"),
    (f"train d_optim.lr=-1 {OUT}", "d_optim.lr: must be > 0"),
    (f"train d_optim.lr=100 {OUT}", "d_optim.lr: must be in (0, 10]"),
    (f"train diwgan.ae_lr=1e9 {OUT}", "diwgan.ae_lr: must be in (0, 10]"),
    (f"train g_optim.betas=[1.5,0.9] {OUT}", "g_optim.betas: each must be in [0, 1)"),
    (f"train g_optim.momentum=1 {OUT}", "g_optim.momentum: must be in [0, 1)"),
    (f"train d_optim.alpha=2 {OUT}", "d_optim.alpha: must be in [0, 1]"),
    (f"train g_optim.weight_decay=5 {OUT}", "g_optim.weight_decay: must be in [0, 1]"),
    (f"train loss.clip=0 {OUT}", "loss.clip: must be > 0"),
    (f"train loss.clip=1e300 {OUT}", "loss.clip: must be in [0, 1e+06]"),
    (f"train loss.gp_weight=-1 {OUT}", "loss.gp_weight: must be >= 0"),
    (f"train loss.gp_weight=1e300 {OUT}", "loss.gp_weight: must be in [0, 1e+06]"),
    (f"train loss.gp_center=-1 {OUT}", "loss.gp_center: must be in [0, 1e+06]"),
    (f"train loss.n_critic=0 {OUT}", "loss.n_critic: must be a positive integer"),
    (f"train loss.n_critic=100000 {OUT}", "loss.n_critic: must be in [1, 1,000]"),
    (f"train weighting.temperature=0 {OUT}", "weighting.temperature: must be > 0"),
    (f"train weighting.topk_start=2 {OUT}", "weighting.topk_start: must be in (0, 1]"),
    (f"train train.hq_threshold=1e300 {OUT}", "train.hq_threshold: must be in [0, 1e+06]"),
    (f"train scheme.pack=0 {OUT}", "scheme.pack: must be a positive integer"),
    (f"train scheme.unroll=-1 {OUT}", "scheme.unroll: must be >= 0"),
    (f"train scheme.unroll=1000 {OUT}", "scheme.unroll: must be in [0, 100]"),
    (f"train diwgan.n_history=0 {OUT}", "diwgan.n_history: must be a positive integer"),
    (f"train diwgan.ae_steps=1000000000000 {OUT}", "diwgan.ae_steps: must be in [1, 1,000,000,000]"),
    (f"train train.eval_every=0 {OUT}", "train.eval_every: must be a positive integer"),
    (f"train train.ckpt_every=-1 {OUT}", "train.ckpt_every: must be >= 0"),
    (f"train train.threads=0 {OUT}", "train.threads: must be a positive integer"),
    (f"train train.threads=-2 {OUT}", "train.threads: must be a positive integer"),
    (f"train train.threads=100000 {OUT}", "train.threads: must be in [1, 1,024]"),
    (f"train model.g_depth=-1 {OUT}", "model.g_depth: must be >= 0"),
    (f"train model.g_depth=100000 {OUT}", "model.g_depth: must be in [0, 1,000]"),
    # sizes that cannot be allocated: refused before allocating, the limit named
    (f"train train.batch_size=0 {OUT}", "train.batch_size: must be a positive integer"),
    (f"train train.batch_size=1000000000 {OUT}", "above the limit of 268,435,456"),
    (f"train train.batch_size=100000 scheme.pack=100 {OUT}", "above the limit of 268,435,456"),
    (f"train model.g_width=0 {OUT}", "model.g_width: must be a positive integer"),
    (f"train model.g_width=1000000 {OUT}", "model.g_width=1,000,000 needs a tensor"),
    (f"train model.d_width=1000000 {OUT}", "model.d_width=1,000,000 needs a tensor"),
    (f"train model.z_dim=100000000 {OUT}", "model.z_dim=100,000,000 needs a tensor"),
    (f"train data.n_train=0 {OUT}", "data.n_train: must be a positive integer"),
    (f"train data.n_train=1000000000 {OUT}", "data.n_train=1,000,000,000 needs a tensor"),
    (f"train train.eval_samples=0 {OUT}", "train.eval_samples: must be a positive integer"),
    (f"train train.eval_samples=1000000000 {OUT}", "train.eval_samples: at most 10,000 for toy data"),
    (f"train train.eval_samples=20000 {OUT}", "train.eval_samples: at most 10,000 for toy data"),
    (f"train data.mode_probs=[1,2] {OUT}", "data.mode_probs must be 25 positive numbers"),
    (f"train data.image_size=32 {OUT}", "data.image_size applies to image data only"),
    # config files
    (f"train --config {{f}}/binary.yaml {OUT}", "is not UTF-8 text"),
    (f"train --config {{f}}/empty.yaml {OUT}", "holds no settings"),
    (f"train --config {{f}}/comments.yaml {OUT}", "holds no settings"),
    (f"train --config {{f}}/list.yaml {OUT}", "must hold a mapping of sections, got list"),
    (f"train --config {{f}}/scalar.yaml {OUT}", "must hold a mapping of sections, got int"),
    (f"train --config {{f}}/section_list.yaml {OUT}", "train: expected a mapping, got [1, 2]"),
    (f"train --config {{f}}/section_scalar.yaml {OUT}", "train: expected a mapping, got 1"),
    (f"train --config {{f}}/unclosed.yaml {OUT}", "is not valid YAML"),
    (f"train --config {{f}}/tabs.yaml {OUT}", "is not valid YAML"),
    (f"train --config {{f}}/unknown_key.yaml {OUT}", "unknown config key 'trian'"),
    (f"train --config {{f}}/bad_value.yaml {OUT}", "train.steps: expected an integer"),
    (f"train --config {{f}}/missing.yaml {OUT}", "config file not found"),
    (f"train --config {{f}} {OUT}", "config file not found"),
    # data files
    (f"train --data {{f}}/flat.npy {OUT}", "for 1-D data save shape (10, 1)"),
    (f"train --data {{f}}/cube.npy {OUT}", "expected a 2-D array"),
    (f"train --data {{f}}/strings.npy {OUT}", "expected a numeric"),
    (f"train --data {{f}}/objects.npy {OUT}", "not a readable .npy array"),
    (f"train --data {{f}}/truncated.npy {OUT}", "not a readable .npy array"),
    (f"train --data {{f}}/text.npy {OUT}", "not a readable .npy array"),
    (f"train --data {{f}}/inf.npy {OUT}", "non-finite values"),
    (f"train --data {{f}}/huge.npy {OUT}", "too large for float32"),
    (f"train --data {{f}}/one_row.npy {OUT}", "need at least 2 points"),
    (f"train --data {{f}}/empty.csv {OUT}", "no data rows"),
    (f"train --data {{f}}/header_only.csv {OUT}", "no data rows"),
    (f"train --data {{f}}/ragged.csv {OUT}", "line 3: expected 2 values, got 3"),
    (f"train --data {{f}}/words.csv {OUT}", "line 3: not a number"),
    (f"train --data {{f}}/nan.csv {OUT}", "NaN"),
    (f"train --data {{f}}/binary.csv {OUT}", "not a UTF-8 text file"),
    (f"train --data {{f}}/missing.csv {OUT}", "point cloud not found"),
    (f"train --data {{f}}/bad_mixture.yaml {OUT}", "bad_mixture.yaml"),
    (f"train --data {{f}}/flat.npy data.mode_probs=[1] {OUT}", "data.mode_probs needs a Gaussian mixture"),
    # image data: sizes, shapes and the data directory
    (f"train model.arch=dcgan {OUT}", "model.arch: dcgan takes images"),
    (f"train --data mnist model.arch=mlp --data-dir {{f}} {OUT}", "model.arch: 'mlp' does not take images"),
    (f"train --data stacked-mnist data.n_train=1000000000 --data-dir {{f}} {OUT}", "data.n_train=1,000,000,000"),
    (f"train --data mnist train.eval_samples=1000000 --data-dir {{f}} {OUT}", "train.eval_samples=1,000,000 needs"),
    (f"train --data mnist train.feature_samples=20000 --data-dir {{f}} {OUT}", "must be at most train.eval_samples"),
    (f"train --data mnist model.g_width=100000 --data-dir {{f}} {OUT}", "model.g_width=100,000 needs a tensor"),
    (f"train --data cifar10 train.batch_size=100000 --data-dir {{f}} {OUT}", "train.batch_size=100,000"),
    (f"train --data {{f}}/no_images data.image_size=64 {OUT}", "data.image_size: 64 is not allowed"),
    (f"train --data {{f}}/no_images data.channels=2 {OUT}", "data.channels: 2 is not allowed"),
    (f"train --data mnist data.channels=3 --data-dir {{f}} {OUT}", "data.channels: mnist images have channels 1"),
    (f"train --data mnist --data-dir {{f}}/empty_dir {OUT}", "not found in"),
    (f"train --data mnist --data-dir {{f}}/a_file {OUT}", "does not exist or is not a directory"),
    (f"train --data ring8 --data-dir {{f}} {OUT}", "data.dir (--data-dir) applies to image data only"),
    (f"train train.classifier={{f}}/a_file {OUT}", "train.classifier applies to mnist and stacked-mnist only"),
    (f"train weighting.disc_real=[data] {OUT}", "data weights need a dataset that carries them"),
    (f"train --data ring8 data.mode_probs=[1,1,1,1,1,1,1,-1] {OUT}", "data.mode_probs must be 8 positive numbers"),
    (f"train diwgan.enabled=true diwgan.n_history=1000 train.batch_size=1000 diwgan.n_targets=100000 {OUT}",
     "DIWGAN's distance window"),
    (f"train --data mnist {OUT}", "no data directory for mnist"),
    (f"train --data cifar10 --data-dir {{f}}/nowhere {OUT}", "does not exist or is not a directory"),
    (f"train --data {{f}}/no_images {OUT}", "no images"),
    # output directories
    ("train --no-progress --out ''", "--out: empty path"),
    ("train --no-progress", "an output directory is needed"),
    ("train --out {f}/a_file --no-progress", "exists and is not a directory"),
    ("train --out {f}/a_file/sub --no-progress", "is a file, not a directory"),
    ("train --out {run} --no-progress", "already holds a run"),
    # resume
    ("train --resume {tmp}/nothing", "is not a run directory"),
    ("train --resume {f}/no_images", "is not a run directory"),
    ("train --resume {run} --preset gan", "--resume takes only --steps"),
    ("train --resume {run} --out {tmp}/x", "--resume takes only --steps"),
    ("train --resume {run} --steps abc", "Invalid value for '--steps'"),
    ("train --resume {run} --steps 0", "--steps: must be in [1, 1,000,000,000]"),
    ("train --resume {run} --steps 1000000000000", "--steps: must be in [1, 1,000,000,000]"),
    ("train --resume {run} --steps 2", "below the checkpoint's step"),
])
cases("eval", [
    ("eval", "Missing argument 'run'"),
    ("eval {tmp}/none", "is not a run directory"),
    ("eval {f}/no_images", "is not a run directory"),
    ("eval {f}/a_file", "is not a run directory"),
    ("eval {run} --samples abc", "Invalid value for '--samples'"),
    ("eval {run} --samples 0", "train.eval_samples: must be a positive integer"),
    ("eval {run} --samples -1", "train.eval_samples: must be a positive integer"),
    ("eval {run} --samples 1000000000", "train.eval_samples: at most 10,000"),
    ("eval {run} --samples 20000", "train.eval_samples: at most 10,000"),
    ("eval {run} --seed abc", "Invalid value for '--seed'"),
    ("eval {run} --seed -1", "train.eval_seed: must be in"),
    ("eval {run} --seed 18446744073709551616", "train.eval_seed: must be in"),
    ("eval {run} extra", "Got unexpected extra argument"),
    ("eval {run} --jsn", "No such option: --jsn"),
])
cases("sample", [
    ("sample {run}", "Missing option '-o'"),
    ("sample", "Missing argument 'run'"),
    ("sample {run} -o {tmp}/s.txt", "-o must be a .npy file"),
    ("sample {run} -o ''", "-o: empty path"),
    ("sample {run} -o {f}/a_dir.npy", "is a directory"),
    ("sample {run} -o {f}/a_file/s.npy", "is a file, not a directory"),
    ("sample {run} -o {tmp}/s.npy -n 0", "number of samples (-n): must be in [1, 268,435,456]"),
    ("sample {run} -o {tmp}/s.npy -n -5", "number of samples (-n): must be in [1, 268,435,456]"),
    ("sample {run} -o {tmp}/s.npy -n 1000000000", "number of samples (-n): must be in [1, 268,435,456]"),
    ("sample {run} -o {tmp}/s.npy -n 100000000", "100,000,000 samples needs a tensor"),
    ("sample {run} -o {tmp}/s.npy -n abc", "Invalid value for '-n'"),
    ("sample {run} -o {tmp}/s.npy --seed -1", "(--seed): must be in [0, 9,223,372,036,854,775,807]"),
    ("sample {run} -o {tmp}/s.npy --seed 18446744073709551616", "(--seed): must be in"),
    ("sample {tmp}/none -o {tmp}/s.npy", "is not a run directory"),
    ("sample {f}/no_images -o {tmp}/s.npy", "is not a run directory"),
])
cases("listing", [
    ("presets extra", "Got unexpected extra argument"),
    ("presets --bogus", "No such option: --bogus"),
    ("datasets extra", "Got unexpected extra argument"),
    ("datasets --all", "No such option: --all"),
    ("trian", "No such command 'trian'"),
    ("bench nope", "No such command 'nope'"),
    ("classifier nope", "No such command 'nope'"),
    ("--version", "No such option: --version"),
])
DEMO = "demo --out {tmp}/demo"
cases("demo", [
    (f"{DEMO} --steps 0", "--steps: must be in [1, 1,000,000,000]"),
    (f"{DEMO} --steps -1", "--steps: must be in [1, 1,000,000,000]"),
    (f"{DEMO} --steps abc", "Invalid value for '--steps'"),
    (f"{DEMO} --steps 1000000000000", "--steps: must be in [1, 1,000,000,000]"),
    (f"{DEMO} --seeds 0", "--seeds: must be in [1, 1,000]"),
    (f"{DEMO} --seeds -1", "--seeds: must be in [1, 1,000]"),
    (f"{DEMO} --seeds 1000000", "--seeds: must be in [1, 1,000]"),
    (f"{DEMO} --workers 0", "--workers: must be in [1, 256]"),
    (f"{DEMO} --workers -1", "--workers: must be in [1, 256]"),
    (f"{DEMO} --workers 1000000", "--workers: must be in [1, 256]"),
    (f"{DEMO} --presets ,", "--presets: empty name"),
    (f"{DEMO} --presets ''", "--presets: empty name"),
    (f"{DEMO} --presets nope", "unknown preset 'nope'"),
    (f"{DEMO} --presets gan,gan", "--presets: gan given twice"),
    (f"{DEMO} --data ring9", "unknown dataset 'ring9'"),
    (f"{DEMO} --data ,", "--data: empty name"),
    ("demo --out ''", "--out: empty path"),
    ("demo --out {f}/a_file", "exists and is not a directory"),
    ("demo --out {f}/a_file/sub", "is a file, not a directory"),
])
MOG = "bench mog --out {tmp}/b --methods gan --datasets ring8 --seeds 1 --steps 10"
cases("bench mog", [
    ("bench mog --out {tmp}/b --methods ,", "--methods: empty name"),
    ("bench mog --out {tmp}/b --methods ''", "--methods: empty name"),
    ("bench mog --out {tmp}/b --methods gan,,wgan", "--methods: empty name"),
    ("bench mog --out {tmp}/b --methods nope", "unknown preset 'nope'"),
    ("bench mog --out {tmp}/b --methods gan,gan", "--methods: gan given twice"),
    ("bench mog --out {tmp}/b --datasets ,", "--datasets: empty name"),
    ("bench mog --out {tmp}/b --datasets ring9", "unknown dataset 'ring9'"),
    ("bench mog --out {tmp}/b --datasets {f}/missing.csv", "data file not found"),
    ("bench mog --out {tmp}/b --datasets {f}/nan.csv", "NaN"),
    ("bench mog --out {tmp}/b --datasets {f}/no_images", "unknown dataset"),
    ("bench mog --out {tmp}/b --datasets {f}/pts.csv,{f}/sub/pts.csv", "would share the run directory runs/pts"),
    (f"{MOG.replace('--seeds 1', '--seeds 0')}", "--seeds: must be in [1, 1,000]"),
    (f"{MOG.replace('--seeds 1', '--seeds -1')}", "--seeds: must be in [1, 1,000]"),
    (f"{MOG.replace('--seeds 1', '--seeds 1000000')}", "--seeds: must be in [1, 1,000]"),
    (f"{MOG.replace('--seeds 1', '--seeds abc')}", "Invalid value for '--seeds'"),
    (f"{MOG.replace('--steps 10', '--steps 0')}", "--steps: must be in [1, 1,000,000,000]"),
    (f"{MOG.replace('--steps 10', '--steps -3')}", "--steps: must be in [1, 1,000,000,000]"),
    (f"{MOG.replace('--steps 10', '--steps 1000000000000')}", "--steps: must be in [1, 1,000,000,000]"),
    (f"{MOG} --eval-every -1", "--eval-every: must be in [1, 1,000,000,000]"),
    (f"{MOG} --workers 0", "--workers: must be in [1, 256]"),
    (f"{MOG} --workers -4", "--workers: must be in [1, 256]"),
    (f"{MOG} --ray ''", "--ray: empty address"),
    (f"{MOG} --ray nonsense", "--ray: bad address 'nonsense'"),
    (f"{MOG} --ray 127.0.0.1:1", "cannot connect to the Ray cluster at '127.0.0.1:1'"),
    (f"{MOG} --ray ray://127.0.0.1:99999", "--ray: bad address"),
    (f"{MOG} train.steps=5", "override train.steps: the benchmark sets it; use --steps"),
    (f"{MOG} train.seed=3", "override train.seed: the benchmark sets it; use --seeds"),
    (f"{MOG} data.name=grid25", "override data.name: the benchmark sets it; use --datasets"),
    (f"{MOG} preset=wgan", "override preset: the benchmark sets it; use --methods"),
    (f"{MOG} train.plots=false", "override train.plots: the benchmark sets it"),
    (f"{MOG} train.steps=abc", "train.steps: expected an integer"),
    (f"{MOG} loss.typo=1", "unknown config key 'loss.typo'"),
    (f"{MOG} train=1", "train: expected a mapping"),
    (f"{MOG} g_optim.lr=1e300", "g_optim.lr: must be in (0, 10]"),
    (f"{MOG} train.batch_size=1000000000", "above the limit of 268,435,456"),
    ("bench mog --out {f}/a_file --methods gan --datasets ring8", "exists and is not a directory"),
    ("bench mog --out {f}/a_file/sub --methods gan --datasets ring8", "is a file, not a directory"),
    ("bench mog --out '' --methods gan --datasets ring8", "--out: empty path"),
])
STACKED = "bench stacked-mnist --out {tmp}/s --data-dir {f}"  # the shipped classifier
cases("bench stacked-mnist", [
    (f"{STACKED} --settings nope", "unknown setting 'nope'"),
    (f"{STACKED} --settings ,", "--settings: empty name"),
    (f"{STACKED} --methods nope", "unknown preset 'nope'"),
    (f"{STACKED} --methods ,", "--methods: empty name"),
    (f"{STACKED} --seeds 0", "--seeds: must be in [1, 1,000]"),
    (f"{STACKED} --steps 0", "--steps: must be in [1, 1,000,000,000]"),
    (f"{STACKED} --workers 0", "--workers: must be in [1, 256]"),
    (f"{STACKED} data.dir=/x", "override data.dir: the benchmark sets it; use --data-dir"),
    (f"{STACKED} train.classifier=/x", "override train.classifier: the benchmark sets it; use --classifier"),
    (f"{STACKED} train.steps=4", "override train.steps: the benchmark sets it; use --steps"),
    ("bench stacked-mnist --out {tmp}/s --classifier {f}/missing.st", "no MNIST classifier at"),
    ("bench stacked-mnist --out {tmp}/s --data-dir {f}/nowhere", "does not exist"),
    ("bench stacked-mnist --out {tmp}/s", "no data directory: pass --data-dir"),
    ("bench stacked-mnist --out {f}/a_file --data-dir {f}", "exists and is not a directory"),
    ("bench stacked-mnist --out {tmp}/s --classifier {f}/a_file --data-dir {f}", "cannot read classifier"),
])
COMPARE = "compare {run}/.. --out {tmp}/cmp"
cases("compare", [
    ("compare", "Missing argument 'run_dirs'"),
    ("compare {tmp}/none --out {tmp}/cmp", "does not exist"),
    ("compare {f}/no_images --out {tmp}/cmp", "no run directories"),
    ("compare {run} --out {f}/a_file", "exists and is not a directory"),
    ("compare {run} --out {f}/a_file/sub", "is a file, not a directory"),
    ("compare {run} --out ''", "--out: empty path"),
    (f"{COMPARE} --diff gan", "--diff takes two methods as A,B"),
    (f"{COMPARE} --diff gan,wgan,iwgan", "--diff takes two methods as A,B"),
    (f"{COMPARE} --diff ,", "--diff: empty name"),
    (f"{COMPARE} --diff gan,nope", "method 'nope' is not among the runs"),
    (f"{COMPARE} --diff gan,gan", "--diff: gan given twice"),
    (f"{COMPARE} --diff gan,iwgan --metric bogus", "--metric 'bogus' is not a metric of these runs"),
    (f"{COMPARE} --diff gan,iwgan --level 0", "--level must be in (0, 1)"),
    (f"{COMPARE} --diff gan,iwgan --level 1.5", "--level must be in (0, 1)"),
    (f"{COMPARE} --diff gan,iwgan --level abc", "Invalid value for '--level'"),
    (f"{COMPARE} --diff gan,iwgan --dataset grid25", "--dataset 'grid25' is not one both"),
])
CLF = "classifier train --data-dir {f}/empty_dir --out {tmp}/c.safetensors"
cases("classifier", [
    (f"{CLF} --threads 0", "--threads: must be in [1, 1,024]"),
    (f"{CLF} --threads -1", "--threads: must be in [1, 1,024]"),
    (f"{CLF} --threads 100000", "--threads: must be in [1, 1,024]"),
    (f"{CLF} --threads abc", "Invalid value for '--threads'"),
    (f"{CLF} --epochs 0", "--epochs: must be in [1, 10,000]"),
    (f"{CLF} --epochs -1", "--epochs: must be in [1, 10,000]"),
    (f"{CLF} --seed -1", "--seed: must be in"),
    (f"{CLF} --seed 18446744073709551616", "--seed: must be in"),
    ("classifier train --data-dir {f}/empty_dir --out {f}/a_dir.npy", "is a directory"),
    ("classifier train --data-dir {f}/empty_dir --out {f}/a_file/c.st", "is a file, not a directory"),
    ("classifier train --data-dir {f}/empty_dir --out ''", "--out: empty path"),
    ("classifier train --data-dir {f}/nowhere --out {tmp}/c.st", "does not exist or is not a directory"),
    (f"{CLF}", "empty_dir"),
    ("classifier train --bogus", "No such option: --bogus"),
    ("classifier check --path {f}/missing.st", "missing.st"),
    ("classifier check --path {f}/a_file", "a_file"),
])

CASES = [(f"{command}: {argv}", argv, match) for command, rows in SWEEP.items() for argv, match in rows]


TEXT_FILES = {  # name: content
    "empty.yaml": "",
    "comments.yaml": "# nothing here\n   # nor here\n",
    "list.yaml": "- 1\n- 2\n",
    "scalar.yaml": "3\n",
    "section_list.yaml": "train: [1, 2]\n",
    "section_scalar.yaml": "train: 1\n",
    "unclosed.yaml": "train: {steps: 1\n",
    "tabs.yaml": "train:\n\tsteps: 3\n",
    "unknown_key.yaml": "trian: {steps: 3}\n",
    "bad_value.yaml": "train: {steps: abc}\n",
    "bad_mixture.yaml": "means: [[0, 0], [1]]\n",
    "text.npy": "1,2\n3,4\n",
    "empty.csv": "\n\n",
    "header_only.csv": "x,y\n",
    "ragged.csv": "x,y\n1,2\n3,4,5\n",
    "words.csv": "x,y\n1,2\n3,four\n",
    "nan.csv": "1,2\nnan,3\n4,5\n",
}


def _write_files(f):
    """The malformed inputs the sweep feeds in (config files, data files, a plain file, empty folders)."""
    f.mkdir(parents=True, exist_ok=True)
    (f / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01train:\x9c\x80")
    for name, text in TEXT_FILES.items():
        (f / name).write_text(text)
    np.save(f / "flat.npy", np.arange(10.0))
    np.save(f / "cube.npy", np.zeros((4, 2, 2)))
    np.save(f / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(f / "objects.npy", np.array([[{}, None]], dtype=object), allow_pickle=True)
    np.save(f / "inf.npy", np.array([[0.0, 1.0], [np.inf, 2.0]]))
    np.save(f / "huge.npy", np.array([[0.0, 1.0], [1e300, 2.0]]))
    np.save(f / "one_row.npy", np.array([[0.0, 1.0]]))
    (f / "truncated.npy").write_bytes((f / "inf.npy").read_bytes()[:90])
    (f / "binary.csv").write_bytes(b"\xff\xfe1,2\n\x80\x81\n")
    (f / "pts.csv").write_text("1,2\n3,4\n5,6\n")
    (f / "sub").mkdir(exist_ok=True)
    (f / "sub" / "pts.csv").write_text("1,2\n3,4\n5,6\n")
    (f / "a_file").write_text("a plain file, not a directory\n")
    (f / "a_dir.npy").mkdir(exist_ok=True)
    (f / "no_images").mkdir(exist_ok=True)
    (f / "no_images" / "readme.txt").write_text("not an image\n")
    (f / "empty_dir").mkdir(exist_ok=True)


@pytest.fixture(scope="module")
def sweep_dirs(tmp_path_factory):
    """Prepared bad files, and two finished tiny runs (gan, iwgan: 4 steps of 8-wide nets) for eval/sample/compare."""
    import modegan

    f = tmp_path_factory.mktemp("files")
    _write_files(f)
    runs = tmp_path_factory.mktemp("runs")
    for preset in ("gan", "iwgan"):
        modegan.train({"preset": preset, "data": {"name": "ring8", "n_train": 200},
                       "model": {"g_width": 8, "d_width": 8},
                       "train": {"steps": 4, "batch_size": 16, "eval_every": 4, "eval_samples": 50, "plots": False}},
                      out=runs / preset)
    return f, runs / "gan"


def _snapshot(*roots):
    return {str(p): p.stat().st_mtime_ns for r in roots for p in r.rglob("*")}


def _no_training(*_, **__):
    raise AssertionError("a bad input reached training")


@pytest.mark.parametrize("argv, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line(argv, match, sweep_dirs, tmp_path, monkeypatch, capsys):
    """One `error:` line, exit 2, no traceback, nothing written (the case's directory, the prepared files and
    the run all unchanged), and nothing trained."""
    import importlib
    import shlex

    from modegan.cli import main

    files, run = sweep_dirs
    monkeypatch.chdir(tmp_path)  # commands' default --out directories land here, and are seen if written
    monkeypatch.delenv("MODEGAN_DATA", raising=False)
    for module, name in (("modegan.train.run", "train_step"), ("modegan.bench.suite", "execute"),
                         ("modegan.metrics.classifier", "train_classifier")):
        monkeypatch.setattr(importlib.import_module(module), name, _no_training)
    args = shlex.split(argv.format(tmp=tmp_path, f=files, run=run))
    before = _snapshot(tmp_path, files, run.parent)
    code = main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    assert match in lines[0], lines[0]
    assert _snapshot(tmp_path, files, run.parent) == before, "a bad input wrote files"


if __name__ == "__main__":
    for command, rows in SWEEP.items():
        print(f"{command:20s} {len(rows):4d}")
    print(f"{'total':20s} {len(CASES):4d}")

