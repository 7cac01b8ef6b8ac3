"""Lessons you can run: each computes its numbers with the library's own code and writes one self-contained
HTML page (figures embedded, a short text that states the claim and shows it) and a JSON file of its numbers.

    modegan.lessons.run("divergences", out="lessons/")      # or: modegan lesson divergences --out lessons/

The mathematics behind them is docs/theory.md.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from modegan.errors import choice_error


@dataclass(frozen=True)
class Lesson:
    name: str
    module: str  # modegan.lessons.<module>, with compute(quick) -> dict and figures(numbers) -> [(caption, uri)]
    summary: str


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in (
    Lesson("divergences", "divergences", "KL, JS, TV and W1 on the WGAN paper's parallel lines and on two Gaussians"),
    Lesson("vanishing-gradients", "vanishing", "the generator's gradient as the discriminator approaches optimality"),
    Lesson("collapse", "collapse", "a GAN on ring8 chasing one mode after another, next to WGAN-GP covering them"),
    Lesson("lipschitz", "lipschitz", "critics with no constraint, clipping, gradient penalty and spectral norm"),
)}


def get_lesson(name: str) -> Lesson:
    if name not in LESSONS:
        raise choice_error("lesson", name, LESSONS)
    return LESSONS[name]


def run(name: str, out: str | Path = "lessons", quick: bool = False) -> dict:
    """Run one lesson; write OUT/NAME.html and OUT/NAME.json and return the numbers (with the file paths).

    `quick` shrinks sample counts and step budgets so the tests run in seconds; the page says so."""
    from modegan.lessons.page import write_lesson

    lesson = get_lesson(name)
    module = importlib.import_module(f"modegan.lessons.{lesson.module}")
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as train.threads: tiny MLPs gain nothing from more threads and lose under load
    try:
        numbers = module.compute(quick=quick)
    finally:
        torch.set_num_threads(threads)
    numbers["lesson"] = name
    numbers["quick"] = quick
    numbers["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return write_lesson(Path(out), name, module, numbers)
