"""FVD's per-video part (I3D features) vs a bare forward of the same I3D (CPU, random weights).

Run with ``python -m benchmarks.metric_fvd``. In one process, with one torch thread, on
``VIDEOS`` uint8 videos of ``FRAMES`` frames at 224 x 224 it times:

* ``evaluation.metrics.fvd.i3d_features(videos, weights="random")``: input checks, the first 16
  frames, uint8 -> float, cd-fvd's preprocessing (no resize at 224; ``2x/255 - 1``), the cached
  I3D (``evaluation.i3d``) in chunks under ``inference_mode``;
* a bare forward of the same I3D on the same clips, already preprocessed to ``(B, 3, T, 224, 224)``
  floats in [-1, 1], in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is clips per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 512 x 512 videos (it resizes them to 224) while the bare
forward gets the clips already at 224: it shows what the resize costs. The Fréchet distance itself
(one 400 x 400 eigendecomposition per value, not per video) is timed on its own.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from evaluation.i3d import load_i3d
from evaluation.metrics.fvd import fvd, i3d_features, preprocess_i3d

VIDEOS = 2
FRAMES = 16
BATCH_SIZE = 2
ROUNDS = 3
TARGET = 0.9


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(
    name: str,
    metric: Callable[[], object],
    bare: Callable[[], object],
    clips: int,
    rounds: int,
    warmup: bool,
) -> dict[str, float | str]:
    if warmup:
        metric()
        bare()
    runs: dict[str, list[tuple[float, float]]] = {"metric": [], "bare": []}
    for _ in range(rounds):
        runs["metric"].append(timed(metric))
        runs["bare"].append(timed(bare))
    wall = {k: statistics.median(t[0] for t in v) for k, v in runs.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in runs.items()}
    return {
        "name": name,
        "metric_cps": clips / cpu["metric"],
        "bare_cps": clips / cpu["bare"],
        "ratio": cpu["bare"] / cpu["metric"],
        "metric_wall_cps": clips / wall["metric"],
        "bare_wall_cps": clips / wall["bare"],
        "wall_ratio": wall["bare"] / wall["metric"],
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, float | str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--videos", type=int, default=VIDEOS)
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames per clip (>= 9)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--skip-resize", action="store_true", help="omit the 512x512 row")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = load_i3d("random")  # the network the metric uses (cached per process)
    gen = torch.Generator().manual_seed(0)
    shape = (args.videos, args.frames, 3)
    small = torch.randint(0, 256, (*shape, 224, 224), generator=gen, dtype=torch.uint8)
    clips = preprocess_i3d(small)  # what the bare forward sees

    def bare() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([model(chunk) for chunk in clips.split(BATCH_SIZE)])

    def metric_on(videos: torch.Tensor) -> Callable[[], torch.Tensor]:
        return lambda: i3d_features(
            videos, weights="random", num_frames=args.frames, batch_size=BATCH_SIZE
        )

    # same network, same clips: the features agree
    diff = (metric_on(small)() - bare()).abs().max().item()

    print("evaluation.metrics benchmark: FVD's i3d_features vs a bare I3D forward")
    print(
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()} | "
        f"I3D Kinetics-400 random weights | {args.videos} videos x {args.frames} frames | "
        f"chunks of {BATCH_SIZE} clips | median of {args.rounds} alternating runs"
        f"{'' if args.no_warmup else ' after a warm-up'}"
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    print(f"max |metric - bare| feature difference: {diff:.1e}")
    print()
    warm = not args.no_warmup
    rows = [compare("224x224 uint8 input", metric_on(small), bare, args.videos, args.rounds, warm)]
    if not args.skip_resize:
        large = torch.randint(0, 256, (*shape, 512, 512), generator=gen, dtype=torch.uint8)
        rows.append(
            compare(
                "512x512 uint8 input (resize)",
                metric_on(large),
                bare,
                args.videos,
                args.rounds,
                warm,
            )
        )
    header = (
        f"{'case':<30} {'metric (clip/s)':>15} {'bare (clip/s)':>13} {'ratio':>6} "
        f"{'wall: metric':>13} {'bare':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<30} {r['metric_cps']:>15.3f} {r['bare_cps']:>13.3f} {r['ratio']:>6.3f} "
            f"{r['metric_wall_cps']:>13.3f} {r['bare_wall_cps']:>6.3f} {r['wall_ratio']:>6.3f}"
        )
    print()
    features = torch.randn(2048, 400, generator=gen, dtype=torch.float64)
    wall, cpu = timed(lambda: fvd(features, features + 0.1))
    print(f"Fréchet distance of 2,048 vs 2,048 400-d features: {wall:.3f} s wall, {cpu:.3f} s CPU")
    ratio = float(rows[0]["ratio"])
    print(
        f"target metric/bare throughput >= {TARGET} (224x224, CPU time): "
        f"{'MET' if ratio >= TARGET else 'NOT MET'} ({ratio:.3f})"
    )
    load = max(load, os.getloadavg()[0])
    if load > cpus - 1:
        print(
            f"note: load average reached {load:.2f} on {cpus} CPUs: other processes share the "
            f"cores, wall times are inflated (CPU times less so)"
        )
    return rows


if __name__ == "__main__":
    main()
