"""Published mixture-of-Gaussians and Stacked-MNIST numbers (methods.md §3.4, §4.5, §5.2), as data.

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
VEEGAN_T2 = "VEEGAN (Srivastava et al. 2017), Table 2"
PACGAN_T2 = "PacGAN (Lin et al. 2018), Table 2, mean ± s.e. over 10 trials"
PACGAN_T3 = "PacGAN (Lin et al. 2018), Table 3 (D = 1/4 G), mean ± std; PacDCGAN rows over 50 trials"
STACKED_VEEGAN = "stacked-mnist/veegan-setting"
STACKED_UNROLLED = "stacked-mnist/unrolled-setting"


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

PUBLISHED += [
    *[Published(VEEGAN_T2, STACKED_VEEGAN, m, p, {"modes": mo, "kl": kl}) for m, p, mo, kl in [
        ("DCGAN", "gan", "99", "3.40"), ("ALI", None, "16", "5.40"), ("Unrolled GAN", "unrolled", "48.7", "4.32"),
        ("VEEGAN", "veegan", "150", "2.95"),
    ]],
    *[Published(PACGAN_T2, STACKED_VEEGAN, m, p, {"modes": mo, "kl": kl}) for m, p, mo, kl in [
        ("DCGAN", "gan", "78.9 ± 6.46", "4.50 ± 0.127"), ("PacDCGAN2", "pacgan2", "1000.0 ± 0.00", "0.06 ± 0.003"),
        ("PacDCGAN3", "pacgan3", "1000.0 ± 0.00", "0.06 ± 0.003"),
        ("PacDCGAN4", "pacgan4", "1000.0 ± 0.00", "0.07 ± 0.005"),
    ]],
    *[Published(PACGAN_T3, STACKED_UNROLLED, m, p, {"modes": mo, "kl": kl}) for m, p, mo, kl in [
        ("DCGAN (Metz et al.)", "gan", "30.6 ± 20.73", "5.99 ± 0.42"),
        ("Unrolled, 1 step", None, "65.4 ± 34.75", "5.91 ± 0.14"),
        ("Unrolled, 5 steps", "unrolled", "236.4 ± 63.30", "4.67 ± 0.43"),
        ("Unrolled, 10 steps", None, "327.2 ± 74.67", "4.66 ± 0.46"),
        ("DCGAN (PacGAN's run)", "gan", "78.5 ± 17.56", "5.21 ± 0.19"),
        ("PacDCGAN2", "pacgan2", "484.5 ± 32.99", "2.61 ± 0.22"),
        ("PacDCGAN3", "pacgan3", "601.3 ± 32.18", "2.00 ± 0.17"),
        ("PacDCGAN4", "pacgan4", "667.4 ± 29.00", "1.81 ± 0.15"),
    ]],
]

SETTINGS_NOTE = {
    DIWGAN_T1: "its own re-runs of the baselines; networks and budget not fully specified; JSD over "
    "'canonical units' (our jsd_grid is our reading of it); the HQS stds it prints look like fractions",
    VEEGAN_T1: "averages over 5 runs; VEEGAN's networks and budget",
    PACGAN_T1: "ALI-code networks (G 4x400 with BN, maxout D), batch 100, 400 epochs; reverse KL over modes",
    VEEGAN_T2: "DCGAN networks, average of 5 runs, 26,000 samples; its KL is not defined further in the text",
    PACGAN_T2: "DCGAN (VEEGAN setting), Adam 2e-4, batch 64, 50 epochs, z ~ U[-1, 1]^100, 128,000 stacks from "
    "train + test digits, 26,000 samples",
    PACGAN_T3: "Metz et al.'s setting as re-run by PacGAN: z 256, batch 128, D lr 2e-4, G lr 1e-4, "
    "Adam (0.5, 0.99), discriminator 1/4 of the generator, 25,600 samples",
}


def published_for(dataset: str) -> list[Published]:
    return [p for p in PUBLISHED if p.dataset == dataset]
