"""FreeInit filter construction: the official per-element loop vs ``freqlab.lowpass_filter``.

Run with ``python -m benchmarks.spectral``. For the AnimateDiff latent shape (1, 4, 16, 64, 64) and
each filter method it times, in one process on one machine:

* the official FreeInit / diffusers construction, a triple Python loop over (t, h, w) writing
  ``mask[..., t, h, w] = value`` (timed once per method: it takes about a second);
* ``freqlab.lowpass_filter`` with its cache cleared before every call (median of many calls);
* a cached ``lowpass_filter`` call (median of many calls);
* ``freq_mix_3d`` on that shape.

Targets: uncached build at least 1000x faster than the loop, cached call under 50 us.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

import freqlab
from freqlab import spectral

SHAPE = (1, 4, 16, 64, 64)
D_S = D_T = 0.25
ORDER = 4
NUM_THREADS = 2
UNCACHED_CALLS = 50
CACHED_CALLS = 2000
MIX_CALLS = 20
RATIO_TARGET = 1000.0
CACHED_TARGET_US = 50.0


def loop_filter(
    shape: tuple[int, ...],
    method: str,
    d_s: float,
    d_t: float,
    order: float = 4,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The official construction: one Python ``__setitem__`` per (t, h, w) bin, each value
    computed in Python floats (``dtype=torch.float64`` keeps them exactly: the tests' reference).
    """
    T, H, W = shape[-3:]
    mask = torch.zeros(shape, dtype=dtype)
    if d_s == 0 or d_t == 0:
        return mask
    if method == "box":
        # The official slices, including Python's slice semantics and the H-derived th_s on W.
        th_s = round(int(H // 2) * d_s)
        th_t = round(T // 2 * d_t)
        rows_t = range(T)[T // 2 - th_t : T // 2 + th_t]
        rows_h = range(H)[H // 2 - th_s : H // 2 + th_s]
        rows_w = range(W)[W // 2 - th_s : W // 2 + th_s]
    for t in range(T):
        for h in range(H):
            for w in range(W):
                if method == "box":
                    value = 1.0 if (t in rows_t and h in rows_h and w in rows_w) else 0.0
                else:
                    d_square = (
                        ((d_s / d_t) * (2 * t / T - 1)) ** 2
                        + (2 * h / H - 1) ** 2
                        + (2 * w / W - 1) ** 2
                    )
                    if method == "gaussian":
                        value = math.exp(-1 / (2 * d_s**2) * d_square)
                    elif method == "butterworth":
                        value = 1 / (1 + (d_square / d_s**2) ** order)
                    elif method == "ideal":
                        value = 1 if d_square <= d_s * 2 else 0
                    elif method == "ideal_exact":
                        value = 1 if d_square <= d_s**2 else 0
                    else:
                        raise ValueError(f"unknown method {method!r}")
                mask[..., t, h, w] = value
    return mask


def median_seconds(fn: Callable[[], object], calls: int, setup: Callable[[], object] | None = None):
    """Median wall time of ``fn()`` over ``calls`` calls; ``setup()`` runs untimed before each."""
    times = []
    for _ in range(calls):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_method(method: str) -> dict:
    start = time.perf_counter()
    reference = loop_filter(SHAPE, method, D_S, D_T, ORDER)
    loop_s = time.perf_counter() - start

    def build():
        return freqlab.lowpass_filter(SHAPE, method, D_S, D_T, ORDER)

    spectral._MASK_CACHE.clear()
    max_diff = (build() - reference).abs().max().item()  # also warms up
    uncached_s = median_seconds(build, UNCACHED_CALLS, setup=spectral._MASK_CACHE.clear)
    build()
    cached_s = median_seconds(build, CACHED_CALLS)
    return {
        "method": method,
        "loop_s": loop_s,
        "uncached_us": uncached_s * 1e6,
        "ratio": loop_s / uncached_s,
        "cached_us": cached_s * 1e6,
        "max_diff": max_diff,
    }


def bench_mix(threads: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(SHAPE, generator=generator)
        noise = torch.randn(SHAPE, generator=generator)
        lpf = freqlab.lowpass_filter(SHAPE, "butterworth", D_S, D_T, ORDER)
        freqlab.freq_mix_3d(x, noise, lpf)  # warm-up
        return median_seconds(lambda: freqlab.freq_mix_3d(x, noise, lpf), MIX_CALLS) * 1e3
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    torch.set_num_threads(NUM_THREADS)
    print("freqlab.spectral benchmark: FreeInit filter construction")
    print(
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()} | "
        f"shape {SHAPE} | d_s=d_t={D_S} | order {ORDER}"
    )
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    print(
        f"loop timed once per method; uncached = median of {UNCACHED_CALLS} calls "
        f"(_MASK_CACHE cleared before each); cached = median of {CACHED_CALLS} calls"
    )
    print()
    rows = [bench_method(method) for method in freqlab.FILTER_METHODS]
    header = (
        f"{'method':<12} {'loop (s)':>9} {'uncached (us)':>14} {'speed-up':>10} "
        f"{'cached (us)':>12} {'max |diff|':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<12} {r['loop_s']:>9.3f} {r['uncached_us']:>14.1f} "
            f"{r['ratio']:>9.0f}x {r['cached_us']:>12.2f} {r['max_diff']:>11.1e}"
        )
    print()
    mix_ms = bench_mix(NUM_THREADS)
    mix_ms_1 = bench_mix(1)
    print(
        f"freq_mix_3d {SHAPE}: {mix_ms:.2f} ms ({NUM_THREADS} threads), {mix_ms_1:.2f} ms (1 thread)"
    )
    print()
    min_ratio = min(r["ratio"] for r in rows)
    max_cached = max(r["cached_us"] for r in rows)
    ratio_ok = min_ratio >= RATIO_TARGET
    cached_ok = max_cached < CACHED_TARGET_US
    exact_ok = all(r["max_diff"] <= 1e-6 for r in rows)
    print(
        f"target speed-up >= {RATIO_TARGET:.0f}x: {'MET' if ratio_ok else 'NOT MET'} "
        f"(lowest {min_ratio:.0f}x)"
    )
    print(
        f"target cached call < {CACHED_TARGET_US:.0f} us: {'MET' if cached_ok else 'NOT MET'} "
        f"(highest {max_cached:.2f} us)"
    )
    print(f"loop and lowpass_filter agree to 1e-6: {'yes' if exact_ok else 'NO'}")
    load = max(load, os.getloadavg()[0])
    if load > cpus - 1:
        print(
            f"note: load average reached {load:.2f} on {cpus} CPUs: other processes compete for "
            f"the cores; all timings are inflated, most those of multi-threaded torch ops such as "
            f"the FFTs of freq_mix_3d (OpenMP workers wait for descheduled peers)"
        )


if __name__ == "__main__":
    main()
