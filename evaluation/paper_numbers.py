"""Numbers reported by the FreeInit paper (Wu et al., arXiv 2312.07537) and the VBench leaderboard,
to stand beside ours.

All are DINO ViT-S/16 temporal consistency x 100 (higher is better), our
``dino_consistency[dino_vits16]``. Provenance:

- Table 1: only the AnimateDiff / UCF-101 baseline, 85.24, is confirmed by the authors
  (TianxingWu/FreeInit#16). The other values are read from secondary notes of the paper and could
  not be checked against the paper body.
- The filter ablation (ideal ILPF vs gaussian GLPF, and "without noise reinitialisation") is from
  the same secondary notes only. The notes give VideoCrafter + GLPF on MSR-VTT as 89.33 in the
  ablation but 88.72 in Table 1; we use Table 1's value.

The paper's AnimateDiff is v1 with the mm-sd-v14 motion module (our ``animatediff_v1``). Which
VideoCrafter version it used, and its ModelScope / VideoCrafter frames, resolution, steps and
guidance are not known; its FreeInit setting is a gaussian low-pass with d0 = 0.25 and 5 sampling
passes (iteration 4 here). Numbers only stand beside ours for the same metric, model family and
prompt set, and FreeInit numbers only for that setting.
"""

from __future__ import annotations

from dataclasses import dataclass

METRIC = "dino_consistency[dino_vits16]"
PAPER = "FreeInit (Wu et al., ECCV 2024, arXiv 2312.07537)"


@dataclass(frozen=True)
class Reported:
    """One number reported by the paper, with where it comes from."""

    value: float
    model: str  # the paper's name for the model
    dataset: str  # our prompt-set name: ucf101 | msrvtt
    arm: str  # baseline | freeinit (gaussian, GLPF) | ideal (ILPF) | without_nr
    source: str
    confirmed: bool


# Our registry name -> the paper's model, and how far they match.
PAPER_MODELS = {
    "animatediff_v1": ("AnimateDiff", "the paper's model (AnimateDiff v1, mm-sd-v14)"),
    "animatediff": ("AnimateDiff", "the paper used motion module mm-sd-v14; this is v1-5-2"),
    "modelscope": ("ModelScope", "the paper's sampling settings are not known"),
    "videocrafter2": ("VideoCrafter", "the paper's VideoCrafter version is not known"),
}

_T1 = "Table 1 (secondary notes)"
_ABL = "filter ablation (secondary notes)"
_NUMBERS = [
    # model, dataset, arm, value, source
    ("AnimateDiff", "ucf101", "baseline", 85.24, "Table 1 (confirmed, FreeInit#16)"),
    ("AnimateDiff", "msrvtt", "baseline", 83.24, _T1),
    ("AnimateDiff", "ucf101", "freeinit", 92.01, _T1),
    ("AnimateDiff", "msrvtt", "freeinit", 91.86, _T1),
    ("ModelScope", "ucf101", "baseline", 88.16, _T1),
    ("ModelScope", "msrvtt", "baseline", 88.95, _T1),
    ("ModelScope", "ucf101", "freeinit", 91.11, _T1),
    ("ModelScope", "msrvtt", "freeinit", 93.28, _T1),
    ("VideoCrafter", "ucf101", "baseline", 85.62, _T1),
    ("VideoCrafter", "msrvtt", "baseline", 84.68, _T1),
    ("VideoCrafter", "ucf101", "freeinit", 89.27, _T1),
    ("VideoCrafter", "msrvtt", "freeinit", 88.72, _T1),
    ("AnimateDiff", "ucf101", "ideal", 87.53, _ABL),
    ("AnimateDiff", "msrvtt", "ideal", 86.17, _ABL),
    ("AnimateDiff", "ucf101", "without_nr", 86.77, _ABL),
    ("AnimateDiff", "msrvtt", "without_nr", 85.18, _ABL),
    ("ModelScope", "ucf101", "without_nr", 88.20, _ABL),
    ("ModelScope", "msrvtt", "without_nr", 90.90, _ABL),
    ("VideoCrafter", "ucf101", "without_nr", 86.09, _ABL),
    ("VideoCrafter", "msrvtt", "without_nr", 87.11, _ABL),
]
REPORTED = {
    (m, d, a): Reported(v, m, d, a, s, confirmed=s.startswith("Table 1 (confirmed"))
    for m, d, a, v, s in _NUMBERS
}

# FreeInit as the paper ran it; the filter of each arm.
PAPER_FREEINIT = dict(d_s=0.25, d_t=0.25, num_iters=5, fast_sampling=False)
_ARM_OF_METHOD = {"gaussian": "freeinit", "ideal": "ideal"}


def freeinit_arm(setting: dict, iteration: int) -> str | None:
    """The paper arm a FreeInit result matches, or None.

    ``setting`` holds the config columns of a results row (method, d_s, d_t, num_iters,
    fast_sampling, variance_preserving, freeu); ``iteration`` the pass the result comes from.
    """
    if setting.get("freeu") or setting.get("variance_preserving"):
        return None
    for key, value in PAPER_FREEINIT.items():
        if key in setting and setting[key] != value:
            return None
    if iteration != PAPER_FREEINIT["num_iters"] - 1:
        return None
    return _ARM_OF_METHOD.get(str(setting.get("method")))


def reported(model: str, dataset: str, metric: str, arm: str) -> Reported | None:
    """The paper's number for our ``model`` (registry name) on ``dataset``, or None.

    ``arm`` is ``baseline``, ``freeinit``, ``ideal`` or ``without_nr``; only ``metric`` =
    :data:`METRIC` has paper numbers.
    """
    if metric != METRIC or model not in PAPER_MODELS:
        return None
    return REPORTED.get((PAPER_MODELS[model][0], dataset, arm))


# --------------------------------------------------------------------------- VBench leaderboard

VBENCH = "VBench leaderboard (Huang et al., CVPR 2024)"
VBENCH_SOURCE = (
    "Show-o2 Table 8 citing the VBench leaderboard (totals and dynamic degree of AnimateDiff-V2 "
    "and VideoCrafter-2.0 repeated in Goku Table 7); not checked against the leaderboard itself"
)
# Our registry name -> the leaderboard's model name.
VBENCH_MODELS = {
    "modelscope": "ModelScope",
    "animatediff": "AnimateDiff-V2",  # motion module v1-5-2 (mm_sd_v15_v2)
    "videocrafter2": "VideoCrafter-2.0",
}
# The leaderboard's values in % (our per-video values x 100), by our metric name.
_VBENCH_NUMBERS = {
    "ModelScope": dict(
        motion_smoothness=95.79,
        dynamic_degree=66.39,
        aesthetic_quality=52.06,
        imaging_quality=58.57,
    ),
    "AnimateDiff-V2": dict(
        motion_smoothness=97.76,
        dynamic_degree=40.83,
        aesthetic_quality=67.16,
        imaging_quality=70.10,
    ),
    "VideoCrafter-2.0": dict(
        motion_smoothness=97.73,
        dynamic_degree=42.50,
        aesthetic_quality=63.13,
        imaging_quality=67.22,
    ),
}
VBENCH_DIMENSIONS = ("motion_smoothness", "dynamic_degree", "aesthetic_quality", "imaging_quality")


def vbench_reported(model: str, metric: str) -> float | None:
    """The leaderboard's value (%) of VBench dimension ``metric`` (our metric name, without the
    network tag) for our ``model``, or None. UNCONFIRMED: see :data:`VBENCH_SOURCE`."""
    name = VBENCH_MODELS.get(model)
    return None if name is None else _VBENCH_NUMBERS[name].get(metric)
