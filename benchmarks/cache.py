"""What the pass-level cache saves: UNet calls of two sweeps on a small config (issue 13).

Run: ``.venv/bin/python -m benchmarks.cache [overrides...]``. Each scenario gets an empty cache in a
temporary folder; numbers are summed from the sweep's ``job.json`` files.

1. **Iteration sweep**: ``freeinit.num_iters=1,2,3,4,5 -m``. Pass k of a run without fast sampling
   is pass k of every longer run, so the sweep needs 5 passes per sample (goal); a cache keyed per
   job would generate 1 + 2 + 3 + 4 + 5 = 15.
2. **Metric added to a finished sweep**: the sweep with ``metrics.names=[motion]``, then the same
   sweep with ``metrics=pixel`` (five metrics, motion among them). The second needs no UNet call
   (goal: 0) and computes only the new metrics' values.

The small config (overridable by the arguments): 2 prompts, 2 denoising steps, 4 frames, on the
default testbed model.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.runner import run_py

SMALL = ["dataset.limit=2", "model.num_inference_steps=2", "model.num_frames=4", "report=false"]
ITERS = (1, 2, 3, 4, 5)
FIELDS = (
    "samples",
    "passes",
    "passes_generated",
    "passes_cached",
    "unet_calls",
    "metric_values_computed",
    "metric_values_cached",
)


def sweep(root: Path, name: str, args: list[str]) -> list[dict[str, Any]]:
    """Run ``python run.py *args -m`` with its cache under ``root``; the jobs' job.json, in order."""
    out = root / name
    run_py([f"paths.root={root}", f"hydra.sweep.dir={out}", "hydra.sweep.subdir=${hydra.job.num}"]
           + args + ["-m"])  # fmt: skip
    jobs = sorted(out.glob("*/job.json"), key=lambda p: int(p.parent.name))
    if not jobs:
        sys.exit(f"the sweep wrote no job.json under {out}")
    return [json.loads(p.read_text()) for p in jobs]


def totals(jobs: list[dict[str, Any]]) -> dict[str, int]:
    """The sweep's sum of each of :data:`FIELDS` (those the job.json files have)."""
    missing = sorted({f for f in FIELDS for job in jobs if f not in job})
    if missing:
        sys.exit(
            f"job.json lacks {', '.join(missing)}: this benchmark needs the pass-level cache's "
            "counts (passes_generated, metric_values_computed, ...)"
        )
    return {f: sum(int(job[f]) for job in jobs) for f in FIELDS}


def _table(rows: list[tuple[str, dict[str, int]]]) -> None:
    names = ("passes", "generated", "cached", "UNet calls", "values computed", "values cached")
    print(f"  {'':<24}" + "".join(f"{n:>17}" for n in names))
    for label, t in rows:
        values = [t[f] for f in FIELDS[1:]]
        print(f"  {label:<24}" + "".join(f"{v:>17}" for v in values))


def iteration_sweep(root: Path, extra: list[str]) -> None:
    iters = ",".join(map(str, ITERS))
    jobs = sweep(root, "iters", [*SMALL, *extra, f"freeinit.num_iters={iters}"])
    per_job = [
        (f"num_iters={job['settings']['freeinit']['num_iters']}", totals([job])) for job in jobs
    ]
    total = totals(jobs)
    samples = jobs[0]["samples"]
    _table([*per_job, ("sweep", total)])
    per_sample = total["passes_generated"] / samples
    naive = sum(ITERS)
    verdict = "meets" if per_sample <= max(ITERS) else "misses"
    print(
        f"  passes generated per sample: {per_sample:g} ({verdict} the goal of {max(ITERS)}; "
        f"a per-job cache: {naive}); UNet calls {total['unet_calls']} "
        f"(a per-job cache: {total['unet_calls'] * naive / max(per_sample, 1):g})"
    )


def metric_added(root: Path, extra: list[str]) -> None:
    args = [*SMALL, *extra, f"freeinit.num_iters={','.join(map(str, ITERS))}"]
    first = totals(sweep(root, "motion", [*args, "metrics.names=[motion]"]))
    second = totals(sweep(root, "pixel", [*args, "metrics=pixel"]))
    _table([("metrics.names=[motion]", first), ("then metrics=pixel", second)])
    verdict = "meets" if second["unet_calls"] == 0 else "misses"
    print(
        f"  UNet calls for the added metrics: {second['unet_calls']} ({verdict} the goal of 0); "
        f"metric values computed {second['metric_values_computed']}, "
        f"reused {second['metric_values_cached']}"
    )


def main() -> None:
    extra = sys.argv[1:]
    print(f"small config: {' '.join(SMALL + extra)}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"1. iteration sweep freeinit.num_iters={','.join(map(str, ITERS))} -m")
        iteration_sweep(Path(tmp) / "a", extra)
        print("2. the same sweep with metrics.names=[motion], then with metrics=pixel")
        metric_added(Path(tmp) / "b", extra)


if __name__ == "__main__":
    main()
