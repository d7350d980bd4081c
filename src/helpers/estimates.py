"""How long a chapter should take: the estimate ``helpers run`` prints before each chapter.

Rates measured on the project's 2-core build machine (README, "The chapters"), per image at
64 px; other sizes scale with the pixel count. Used only for the estimate printed before a
chapter: real runs differ with the machine (a GPU is far faster at chapters 2-3).
"""

from __future__ import annotations

from helpers.profiles import Profile, n_galaxies

RATES = {"train": 90.0, "forward": 250.0, "decode": 400.0}  # ResNet34; train: with its validation pass
ARCH_SPEED = {"resnet18": 2.0, "resnet34": 1.0, "resnet50": 0.45}  # images per second, relative


def estimate_seconds(stem: str, params: dict, profile: Profile) -> float | None:
    """A rough time for chapter ``stem`` with these parameters on a 2-core CPU (None: no guess).

    >>> from pathlib import Path
    >>> p = Profile(path=Path("p.yml"), run="r", data_dir=Path("d"), mock={"n": 3000})
    >>> round(estimate_seconds("02_train_resnet34", {"n_train": 2000, "epochs": 16, "image_size": 64,
    ...                                              "heads": ["tree"], "ablation": None, "arch": "resnet18",
    ...                                              "valid_pct": 0.2, "lr": 0.002}, p))
    169
    """
    n = n_galaxies(profile)
    if not n:
        return None
    trained = profile.chapters.get("02_train_resnet34", {})  # chapter 3 runs chapter 2's network
    arch = params.get("arch") or trained.get("arch")
    size = params.get("image_size") or trained.get("image_size") or 64
    scale = (int(size) / 64) ** 2 / ARCH_SPEED.get(arch, 1.0)
    if stem == "01_labels":
        return 5 + n / RATES["decode"]
    if stem == "02_train_resnet34":
        used = min(n, params.get("n_train") or n)
        train = used * (1 - float(params.get("valid_pct", 0.2)))
        heads = len(params.get("heads") or [1]) + bool(params.get("ablation"))
        epochs = int(params.get("epochs") or 1)
        finder = 64 * 30 / RATES["train"] if params.get("lr", 1) is None else 0
        return 20 + scale * (heads * epochs * train / RATES["train"] + finder
                             + 8 * used * 0.2 / RATES["forward"])
    if stem == "03_extract_features":
        coded = min(n, params.get("n_galaxies") or n)
        return 15 + scale * 3 * coded / RATES["forward"]
    if stem in ("04_reduce", "05_cluster", "06_compare"):
        coded = min(n, 20_000)
        return {"04_reduce": 20 + coded / 40, "05_cluster": 25 + coded / 35,
                "06_compare": 20 + coded / 100}[stem]
    if stem == "09_codes_at_work":
        return 10 + min(n, 20_000) / 150
    return None


__all__ = ["estimate_seconds", "RATES", "ARCH_SPEED"]
