"""Dynamic degree throughput vs a bare RAFT-Large forward on the same frame pairs (CPU, random
weights).

Run with ``python -m benchmarks.metric_dynamic_degree``. In one process, with one torch thread,
on ``VIDEOS x FRAMES`` uint8 frames of 320 x 512 (VBench's sampled-video resolution; fps 8, so
every frame is kept) it times:

* ``evaluation.metrics.dynamic_degree.dynamic_degree(videos, 8, "raft_large_v1",
  weights="random")``: input checks, sub-sampling, uint8 -> float, centred padding, RAFT-Large
  with 20 updates on chunks of ``BATCH_SIZE`` pairs under ``inference_mode``, the top-5 % score
  and the decision;
* a bare forward of the same RAFT (same weights) on the same pairs, already converted to padded
  [-1, 1] frames, in chunks of the same size, 20 updates, under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frame pairs per second of the median process CPU time (with one thread it measures
the work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward. ``--quick`` runs one 128 x 128 pair with 2
updates once, without a warm-up (the smoke test).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from collections.abc import Callable, Sequence

import torch

from benchmarks.encoder_throughput import timed
from evaluation.metrics.dynamic_degree import (
    DEFAULT_FLOW_MODEL,
    NUM_FLOW_UPDATES,
    dynamic_degree,
    dynamic_pair_scores,
    pad_to_multiple_of_8,
    top_flow_magnitude,
)
from evaluation.optical_flow import load_raft

VIDEOS = 2
FRAMES = 3
HEIGHT, WIDTH = 320, 512
FPS = 8
BATCH_SIZE = 4
ROUNDS = 3
TARGET = 0.9


def compare(
    name: str,
    metric: Callable[[], object],
    bare: Callable[[], object],
    items: int,
    rounds: int,
    warmup: bool,
) -> dict[str, object]:
    """Median CPU and wall time of alternating runs, as items (pairs, frames) per second and the
    bare/metric ratio."""
    if warmup:
        metric()
        bare()
    runs: dict[str, list[tuple[float, float]]] = {"metric": [], "bare": []}
    for _ in range(rounds):
        runs["metric"].append(timed(metric))
        runs["bare"].append(timed(bare))
    # max() guards the ratio against a 0 s CPU reading on tiny smoke-test inputs
    wall = {k: max(statistics.median(t[0] for t in v), 1e-9) for k, v in runs.items()}
    cpu = {k: max(statistics.median(t[1] for t in v), 1e-9) for k, v in runs.items()}
    return {
        "name": name,
        "metric_per_s": items / cpu["metric"],
        "bare_per_s": items / cpu["bare"],
        "ratio": cpu["bare"] / cpu["metric"],
        "metric_wall_per_s": items / wall["metric"],
        "bare_wall_per_s": items / wall["bare"],
        "wall_ratio": wall["bare"] / wall["metric"],
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one tiny pair, one round")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos, frames_per_video, rounds, warmup = VIDEOS, FRAMES, ROUNDS, True
    height, width, updates = HEIGHT, WIDTH, NUM_FLOW_UPDATES
    if args.quick:
        videos, frames_per_video, rounds, warmup = 1, 2, 1, False
        height, width, updates = 128, 128, 2

    model = load_raft(DEFAULT_FLOW_MODEL, "random")  # what the metric uses (cached)
    gen = torch.Generator().manual_seed(0)
    shape = (videos, frames_per_video, 3, height, width)
    clips = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    # what the bare forward sees: consecutive pairs, padded, in [-1, 1]
    prepared = pad_to_multiple_of_8(clips.flatten(0, 1).float() / 255).unflatten(0, shape[:2])
    prepared = prepared * 2 - 1
    first = prepared[:, :-1].flatten(0, 1)
    second = prepared[:, 1:].flatten(0, 1)
    pairs = len(first)

    def metric() -> torch.Tensor:
        return dynamic_degree(
            clips,
            FPS,
            DEFAULT_FLOW_MODEL,
            weights="random",
            batch_size=BATCH_SIZE,
            num_flow_updates=updates,
        )

    def bare() -> list[torch.Tensor]:
        with torch.inference_mode():
            return [
                model(a, b, num_flow_updates=updates)[-1]
                for a, b in zip(first.split(BATCH_SIZE), second.split(BATCH_SIZE), strict=True)
            ]

    # same weights, same pairs: the top-5 % scores agree
    bare_scores = torch.cat([top_flow_magnitude(flow) for flow in bare()])
    metric_scores = dynamic_pair_scores(
        clips, FPS, weights="random", batch_size=BATCH_SIZE, num_flow_updates=updates
    ).flatten()
    diff = (metric_scores - bare_scores).abs().max().item()

    print(
        f"evaluation.metrics benchmark: dynamic_degree vs bare RAFT forward ({DEFAULT_FLOW_MODEL})"
    )
    print(
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()} | random weights | "
        f"{videos} videos x {frames_per_video} frames of {height} x {width} at {FPS} fps "
        f"({pairs} pairs) | {updates} updates | chunks of {BATCH_SIZE} pairs | "
        f"median of {rounds} alternating runs{' after a warm-up' if warmup else ''}"
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    print(f"max |metric - bare| top-5% flow score difference: {diff:.1e}")
    print()
    rows = [compare(f"{height}x{width} uint8 input", metric, bare, pairs, rounds, warmup)]
    header = (
        f"{'case':<22} {'metric (pairs/s)':>16} {'bare (pairs/s)':>14} {'ratio':>6} "
        f"{'wall: metric':>13} {'bare':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<22} {r['metric_per_s']:>16.3f} {r['bare_per_s']:>14.3f} "
            f"{r['ratio']:>6.3f} "
            f"{r['metric_wall_per_s']:>13.3f} {r['bare_wall_per_s']:>6.3f} {r['wall_ratio']:>6.3f}"
        )
    print()
    ratio = rows[0]["ratio"]
    print(
        f"target metric/bare throughput >= {TARGET} ({height}x{width}, CPU time): "
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
