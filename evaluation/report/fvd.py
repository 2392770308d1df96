"""The report's FVD table: each setting's FVD per iteration, as its job computed it.

FVD compares sets, so a job with ``metrics.fvd.reference`` writes it into ``job.json``
(``experiments.fvd_job``) rather than ``results.parquet``; this table reads it back, one row per
(job, iteration), with the numbers of videos on both sides and a warning where either is below
:data:`evaluation.metrics.fvd.FVD_RECOMMENDED_VIDEOS` (FVD is biased upward with fewer).
"""

from __future__ import annotations

import math

from evaluation.report.tables import Table
from evaluation.results import Sweep

__all__ = ["fvd_table"]

RECOMMENDED = 2048  # evaluation.metrics.fvd.FVD_RECOMMENDED_VIDEOS, without importing I3D code


def fvd_table(sweep: Sweep) -> Table | None:
    """A row per (job, iteration) with FVD; None when no job computed it."""
    rows: list[list[str]] = []
    small = False
    for index, job in enumerate(sweep.jobs):
        fvd = (job.summary or {}).get("fvd")
        if not fvd:
            continue
        first = sweep.frame[sweep.frame._job == index]
        label = sweep.label(first.iloc[0]) if len(first) else str(job.path)
        for item in fvd["iterations"]:
            value = item["fvd"]
            few = min(item["videos"], fvd["reference_videos"]) < RECOMMENDED
            small |= few
            rows.append(
                [
                    label,
                    str(item["iteration"]),
                    str(item["videos"]),
                    str(fvd["reference_videos"]),
                    "" if math.isnan(value) else f"{value:.2f}" + (" †" if few else ""),
                ]
            )
    if not rows:
        return None
    notes = [
        "FVD (I3D Kinetics-400 logits of 16-frame clips, content-debiased FVD's numerics) of "
        "each iteration's videos against the reference folder; lower is better."
    ]
    if small:
        notes.append(
            f"† fewer than {RECOMMENDED} videos on a side: FVD is biased upward and not "
            "comparable with published values."
        )
    header = ["setting", "iteration", "videos", "reference videos", "FVD"]
    return Table("fvd", "FVD against the reference set", header, rows, notes, None)
