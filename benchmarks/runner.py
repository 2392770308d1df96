"""Wall time, peak memory and where the time goes in the default `python run.py`, and its re-run.

Run: ``.venv/bin/python -m benchmarks.runner [overrides...]``. The first run generates every sample
with an empty cache; the re-run finds them all cached (expected: no UNet call, seconds). Each run is
its own process, so the peak RSS covers imports, model, sampling, metrics and W&B.

The time split comes from the job's ``job.json`` ``timings``: ``generation`` is the wall time of
the whole sampling / decoding / metrics / video loop, ``unet`` the part inside UNet forward calls.
Goal (issue 13): the UNet takes at least 60% of the first run's generation time; everything else
in that loop (decoding, metrics, writing videos, cache I/O) is overhead.

The cache's own counts (a sweep over ``freeinit.num_iters``, a metric added to a finished sweep)
are in :mod:`benchmarks.cache`.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UNET_SHARE_GOAL = 0.60
_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)
# The parts of "generation" that job.json times, besides the UNet.
_PARTS = ("decode", "metrics", "videos")


def run_py(args: list[str], env_extra: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``python run.py *args`` from the repository root; (wall seconds, peak RSS in MiB).

    Exits with run.py's stderr when it fails.
    """
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE=os.environ.get("WANDB_MODE", "offline"))
    env.update(env_extra or {})
    start = time.perf_counter()
    # A wrapper process whose only child is run.py, so its children's peak RSS is run.py's own.
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"python run.py {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    peak = int(proc.stderr.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    return wall, peak


def _run(root: Path, name: str, extra: list[str]) -> tuple[float, float, dict[str, Any]]:
    out_dir = root / name
    wall, peak = run_py([f"paths.root={root}", f"hydra.run.dir={out_dir}", *extra])
    return wall, peak, json.loads((out_dir / "job.json").read_text())


def unet_share(job: dict[str, Any]) -> float | None:
    """UNet seconds / generation seconds from ``job.json``'s ``timings``; None when the job
    recorded no timings (a job.json from before they existed) or generated nothing."""
    timings = job.get("timings")
    if not isinstance(timings, dict) or "generation" not in timings or "unet" not in timings:
        return None
    if not timings["generation"] or not job.get("unet_calls"):
        return None
    return timings["unet"] / timings["generation"]


def _breakdown(job: dict[str, Any]) -> str:
    timings = job["timings"]
    total = timings["generation"]
    parts = [("unet", timings["unet"])] + [(p, timings[p]) for p in _PARTS if p in timings]
    other = total - sum(seconds for _, seconds in parts)
    parts.append(("other", other))
    return ", ".join(f"{name} {seconds:.1f} s ({seconds / total:.0%})" for name, seconds in parts)


def main() -> None:
    extra = sys.argv[1:]
    print(f"python {platform.python_version()} | {platform.machine()} | {os.cpu_count()} CPUs")
    print(f"command: python run.py {' '.join(extra)} (defaults otherwise)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = _run(root, "first", extra)
        again = _run(root, "rerun", extra)
    header = f"{'run':<8}{'wall (s)':>10}{'peak RSS (MiB)':>16}{'generated':>11}{'UNet calls':>12}"
    print(header)
    for name, (wall, peak, job) in (("first", first), ("re-run", again)):
        print(f"{name:<8}{wall:>10.1f}{peak:>16.0f}{job['generated']:>11}{job['unet_calls']:>12}")
    print(f"re-run / first wall time: {again[0] / first[0]:.2f}")

    job = first[2]
    share = unet_share(job)
    if share is None:
        print(
            "UNet share of generation time: unknown (job.json has no timings with 'generation' "
            "and 'unet' seconds, or the job made no UNet call)"
        )
        return
    verdict = "meets" if share >= UNET_SHARE_GOAL else "misses"
    print(
        f"generation loop of the first run: {job['timings']['generation']:.1f} s: {_breakdown(job)}"
    )
    print(
        f"UNet share of generation time: {share:.0%} ({verdict} the goal of >= {UNET_SHARE_GOAL:.0%})"
    )


if __name__ == "__main__":
    main()
