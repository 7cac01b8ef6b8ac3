"""Published mixture-of-Gaussians numbers (methods.md §3.4, §4.5), kept as data with their sources.

They were measured elsewhere, under other networks, budgets and sample counts, so every report
prints them beside our numbers, labelled, and never inside the same statistics. Values are as the
papers print them: DIWGAN and VEEGAN give means (DIWGAN's std where printed), PacGAN mean ± standard
error over 10 trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIWGAN_T1 = "DIWGAN submission (ICLR 2019), Table 1"
VEEGAN_T1 = "VEEGAN (Srivastava et al. 2017), Table 1"
PACGAN_T1 = "PacGAN (Lin et al. 2018), Table 1, mean ± s.e. over 10 trials"


@dataclass(frozen=True)
class Published:
    source: str
    dataset: str  # our benchmark it corresponds to
    method: str  # as the paper names it
    preset: str | None  # our preset of the same method, if any
    values: dict[str, str] = field(default_factory=dict)  # metric -> the printed value, verbatim


def _diwgan(dataset: str, rows: dict[str, tuple[str, str, str]]) -> list[Published]:
    presets = {"Unrolled GAN": "unrolled", "VEEGAN": "veegan", "DIWGAN": "diwgan"}
    return [Published(DIWGAN_T1, dataset, m, presets[m], {"modes": v[0], "hqs": v[1], "jsd_grid": v[2]})
            for m, v in rows.items()]


PUBLISHED: list[Published] = [
    *_diwgan("ring8", {"Unrolled GAN": ("8 (0)", "30.9", "0.254"), "VEEGAN": ("8 (0)", "60.4", "0.19"),
                       "DIWGAN": ("8 (0)", "85.5", "0.172")}),
    *_diwgan("grid25", {"Unrolled GAN": ("25 (0)", "14.4", "0.47"), "VEEGAN": ("24.1 (0.31)", "65.4", "0.21"),
                        "DIWGAN": ("25 (0)", "82.5", "0.12")}),
    *_diwgan("grid25-random", {"Unrolled GAN": ("24.4 (0.5)", "15.9", "0.38"),
                               "VEEGAN": ("24.3 (0.637)", "63.7", "0.32"), "DIWGAN": ("25 (0)", "83.4", "0.15")}),
    *_diwgan("cube27", {"Unrolled GAN": ("27 (0)", "85.0", "0.194"), "VEEGAN": ("26.6 (0.5)", "43.3", "0.31"),
                        "DIWGAN": ("27 (0)", "80.0", "0.125")}),
    *[Published(VEEGAN_T1, d, m, p, {"modes": mo, "hqs": hq}) for d, m, p, mo, hq in [
        ("ring8", "GAN", "gan", "1", "99.3"), ("ring8", "ALI", None, "2.8", "0.13"),
        ("ring8", "Unrolled GAN", "unrolled", "7.6", "35.6"), ("ring8", "VEEGAN", "veegan", "8", "52.9"),
        ("grid25", "GAN", "gan", "3.3", "0.5"), ("grid25", "ALI", None, "15.8", "1.6"),
        ("grid25", "Unrolled GAN", "unrolled", "23.6", "16"), ("grid25", "VEEGAN", "veegan", "24.6", "40"),
    ]],
    *[Published(PACGAN_T1, d, m, p, {"modes": mo, "hqs": hq, "rkl_modes": kl}) for d, m, p, mo, hq, kl in [
        ("ring8", "GAN", "gan", "6.3 ± 0.5", "98.2 ± 0.2", "0.45 ± 0.09"),
        ("ring8", "ALI", None, "6.6 ± 0.3", "97.6 ± 0.4", "0.36 ± 0.04"),
        ("ring8", "PacGAN2", "pacgan2", "7.9 ± 0.1", "95.6 ± 2.0", "0.07 ± 0.03"),
        ("ring8", "PacGAN3", "pacgan3", "7.8 ± 0.1", "97.7 ± 0.3", "0.10 ± 0.02"),
        ("ring8", "PacGAN4", "pacgan4", "7.8 ± 0.1", "95.9 ± 1.4", "0.07 ± 0.02"),
        ("grid25", "GAN", "gan", "17.3 ± 0.8", "94.8 ± 0.7", "0.70 ± 0.07"),
        ("grid25", "ALI", None, "24.1 ± 0.4", "95.7 ± 0.6", "0.14 ± 0.03"),
        ("grid25", "PacGAN2", "pacgan2", "23.8 ± 0.7", "91.3 ± 0.8", "0.13 ± 0.04"),
        ("grid25", "PacGAN3", "pacgan3", "24.6 ± 0.4", "94.2 ± 0.4", "0.06 ± 0.02"),
        ("grid25", "PacGAN4", "pacgan4", "24.8 ± 0.2", "93.6 ± 0.6", "0.04 ± 0.01"),
    ]],
]

SETTINGS_NOTE = {
    DIWGAN_T1: "its own re-runs of the baselines; networks and budget not fully specified; JSD over "
    "'canonical units' (our jsd_grid is our reading of it); the HQS stds it prints look like fractions",
    VEEGAN_T1: "averages over 5 runs; VEEGAN's networks and budget",
    PACGAN_T1: "ALI-code networks (G 4x400 with BN, maxout D), batch 100, 400 epochs; reverse KL over modes",
}


def published_for(dataset: str) -> list[Published]:
    return [p for p in PUBLISHED if p.dataset == dataset]
