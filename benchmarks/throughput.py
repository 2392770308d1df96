"""What the metric throughput benchmarks share: timing a metric against a bare forward of its
network on the same inputs, and printing the result.

The protocol (:func:`compare`): after an optional warm-up of each, the metric and the bare
forward alternate ``rounds`` times, so that load drifts hit both alike; throughput is items
(frames, pairs, clips) per second of the median process CPU time (with one torch thread it
measures the work done even when other processes share the cores), with wall time beside it.
The ratio is bare time / metric time, so 1.0 means the metric adds nothing to its network.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def chunked_forward(
    model: torch.nn.Module, inputs: torch.Tensor, batch_size: int
) -> Callable[[], torch.Tensor]:
    """A bare forward: ``model`` on ``inputs`` ``(N, ...)`` in chunks of ``batch_size`` under
    ``inference_mode``, the outputs concatenated along dim 0."""

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([model(chunk) for chunk in inputs.split(batch_size)])

    return run


def compare(
    name: str,
    metric: Callable[[], object],
    bare: Callable[[], object],
    items: int,
    rounds: int,
    warmup: bool = True,
    unit: str = "per_s",
) -> dict[str, object]:
    """Median CPU and wall time of ``rounds`` alternating runs of ``metric`` and ``bare``, each
    processing ``items`` things.

    Returns ``{"name", "metric_<unit>", "bare_<unit>", "ratio", "metric_wall_<unit>",
    "bare_wall_<unit>", "wall_ratio"}``: items per second (CPU, then wall) and bare/metric time
    ratios. ``unit`` only names the keys (``"fps"``, ``"cps"``, ``"per_s"``), so each script keeps
    the row keys its callers read.
    """
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
        f"metric_{unit}": items / cpu["metric"],
        f"bare_{unit}": items / cpu["bare"],
        "ratio": cpu["bare"] / cpu["metric"],
        f"metric_wall_{unit}": items / wall["metric"],
        f"bare_wall_{unit}": items / wall["bare"],
        "wall_ratio": wall["bare"] / wall["metric"],
    }


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of ``doc`` with the shared ``--threads``
    option (torch threads, default 1)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    return parser


def environment() -> str:
    """The start of a benchmark's set-up line: torch version and threads, python, machine."""
    return (
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()}"
    )


def protocol(rounds: int, warmup: bool) -> str:
    """The end of a set-up line: how the timings were taken."""
    return f"median of {rounds} alternating runs{' after a warm-up' if warmup else ''}"


def print_load() -> tuple[float, int]:
    """Print the 1-minute load average and CPU count; returns them for :func:`print_target`."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    return load, cpus


def print_table(
    rows: Sequence[dict[str, object]],
    what: str,
    unit: str = "per_s",
    case_width: int = 30,
    digits: int = 3,
) -> None:
    """Print ``rows`` from :func:`compare` as a table, then a blank line. ``what`` labels the rate
    columns (``"fr/s"``, ``"pairs/s"``, ``"clip/s"``); ``unit`` is the one given to
    :func:`compare`; rates get ``digits`` decimals."""
    metric_col, bare_col = f"metric ({what})", f"bare ({what})"
    mw, bw = max(len(metric_col), 13), max(len(bare_col), 12)
    header = (
        f"{'case':<{case_width}} {metric_col:>{mw}} {bare_col:>{bw}} {'ratio':>6} "
        f"{'wall: metric':>13} {'bare':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<{case_width}} {r[f'metric_{unit}']:>{mw}.{digits}f} "
            f"{r[f'bare_{unit}']:>{bw}.{digits}f} {r['ratio']:>6.3f} "
            f"{r[f'metric_wall_{unit}']:>13.{digits}f} {r[f'bare_wall_{unit}']:>6.{digits}f} "
            f"{r['wall_ratio']:>6.3f}"
        )
    print()


def print_target(ratio: float, target: float, case: str | None, load: float, cpus: int) -> None:
    """Print whether the CPU-time ratio meets ``target`` (for ``case``, e.g. ``"224x224"``), and a
    note when the load average rose above ``cpus - 1`` since :func:`print_load`."""
    where = f"{case}, CPU time" if case else "CPU time"
    print(
        f"target metric/bare throughput >= {target} ({where}): "
        f"{'MET' if ratio >= target else 'NOT MET'} ({ratio:.3f})"
    )
    load = max(load, os.getloadavg()[0])
    if load > cpus - 1:
        print(
            f"note: load average reached {load:.2f} on {cpus} CPUs: other processes share the "
            f"cores, wall times are inflated (CPU times less so)"
        )
