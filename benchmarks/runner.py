"""Wall time and peak memory of the default `python run.py`, and of a re-run of the same job.

Run: ``.venv/bin/python -m benchmarks.runner``. The first run generates every sample; the re-run
finds them all in the cache (expected: no generation, seconds). Each run is its own process, so
the peak RSS covers imports, model, sampling, metrics and W&B.
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

ROOT = Path(__file__).resolve().parents[1]
_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def _run(root: Path, name: str, extra: list[str]) -> tuple[float, float, dict]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE=os.environ.get("WANDB_MODE", "offline"))
    out_dir = root / name
    start = time.perf_counter()
    # A wrapper process whose only child is run.py, so its children's peak RSS is run.py's own.
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "run.py", f"paths.root={root}"]
        + [f"hydra.run.dir={out_dir}", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"run.py failed:\n{proc.stderr[-3000:]}")
    peak = int(proc.stderr.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    return wall, peak, json.loads((out_dir / "job.json").read_text())


def main() -> None:
    extra = sys.argv[1:]
    print(f"python {platform.python_version()} | {platform.machine()} | {os.cpu_count()} CPUs")
    print(f"command: python run.py {' '.join(extra)} (defaults otherwise)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = _run(root, "first", extra)
        again = _run(root, "rerun", extra)
    print(f"{'run':<8}{'wall (s)':>10}{'peak RSS (MiB)':>16}{'generated':>11}{'UNet calls':>12}")
    for name, (wall, peak, job) in (("first", first), ("re-run", again)):
        print(f"{name:<8}{wall:>10.1f}{peak:>16.0f}{job['generated']:>11}{job['unet_calls']:>12}")
    print(f"re-run / first wall time: {again[0] / first[0]:.2f}")


if __name__ == "__main__":
    main()
