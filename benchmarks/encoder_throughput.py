"""DINO consistency throughput vs a bare timm forward on the same frames (CPU, random weights).

Run with ``python -m benchmarks.encoder_throughput``. In one process, with one torch thread, on
``VIDEOS x FRAMES`` uint8 frames of 224 x 224 it times:

* ``evaluation.metrics.dino_consistency(videos, weights="random")``: the registered ViT-S/16
  (``vit_small_patch16_224.dino`` with random weights), chunked, under ``inference_mode``, with
  uint8 -> float conversion, preprocessing, feature normalisation and the similarity;
* a bare forward of a plain ``timm.create_model("vit_small_patch16_224.dino", pretrained=False,
  num_classes=0)`` with the same weights on the same frames, already converted to normalised
  float, in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frames per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 512 x 512 frames (it resizes and crops them) while
the bare forward gets the frames already at 224: it shows what the preprocessing costs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from evaluation.encoders import load_encoder
from evaluation.metrics import dino_consistency
from evaluation.preprocessing import FREEINIT_DINO

VIDEOS = 2
FRAMES = 16
BATCH_SIZE = 16
ROUNDS = 3
TARGET = 0.9


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_forward(model: torch.nn.Module, frames: torch.Tensor) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([model(chunk) for chunk in frames.split(BATCH_SIZE)])

    return run


def compare(name: str, metric: Callable[[], object], bare: Callable[[], object], frames: int):
    metric()  # warm-up
    bare()
    runs: dict[str, list[tuple[float, float]]] = {"metric": [], "bare": []}
    for _ in range(ROUNDS):
        runs["metric"].append(timed(metric))
        runs["bare"].append(timed(bare))
    wall = {k: statistics.median(t[0] for t in v) for k, v in runs.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in runs.items()}
    return {
        "name": name,
        "metric_fps": frames / cpu["metric"],
        "bare_fps": frames / cpu["bare"],
        "ratio": cpu["bare"] / cpu["metric"],
        "metric_wall_fps": frames / wall["metric"],
        "bare_wall_fps": frames / wall["bare"],
        "wall_ratio": wall["bare"] / wall["metric"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import timm

    encoder = load_encoder("dino_vits16", weights="random")  # what the metric uses
    model = timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0)
    model.load_state_dict(encoder.module.model.state_dict())
    model.eval()

    gen = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (VIDEOS, FRAMES, 3, 224, 224), generator=gen, dtype=torch.uint8)
    large = torch.randint(0, 256, (VIDEOS, FRAMES, 3, 512, 512), generator=gen, dtype=torch.uint8)
    frames = FREEINIT_DINO(small.flatten(0, 1).float() / 255)  # what the bare forward sees
    n = VIDEOS * FRAMES

    def metric_small() -> torch.Tensor:
        return dino_consistency(small, weights="random", batch_size=BATCH_SIZE)

    def metric_large() -> torch.Tensor:
        return dino_consistency(large, weights="random", batch_size=BATCH_SIZE)

    # same weights, same frames: the features agree
    with torch.inference_mode():
        diff = (encoder.module(frames[:4]) - model(frames[:4])).abs().max().item()

    print("evaluation.metrics benchmark: dino_consistency vs bare timm forward")
    print(
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()} | "
        f"vit_small_patch16_224.dino random weights | {VIDEOS} videos x {FRAMES} frames | "
        f"chunks of {BATCH_SIZE} frames | median of {ROUNDS} alternating runs after a warm-up"
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    print(f"max |metric encoder - bare model| feature difference: {diff:.1e}")
    print()
    rows = [
        compare("224x224 uint8 input", metric_small, bare_forward(model, frames), n),
        compare("512x512 uint8 input (resize)", metric_large, bare_forward(model, frames), n),
    ]
    header = (
        f"{'case':<30} {'metric (fr/s)':>13} {'bare (fr/s)':>12} {'ratio':>6} "
        f"{'wall: metric':>13} {'bare':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<30} {r['metric_fps']:>13.2f} {r['bare_fps']:>12.2f} {r['ratio']:>6.3f} "
            f"{r['metric_wall_fps']:>13.2f} {r['bare_wall_fps']:>6.2f} {r['wall_ratio']:>6.3f}"
        )
    print()
    ratio = rows[0]["ratio"]
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


if __name__ == "__main__":
    main()
