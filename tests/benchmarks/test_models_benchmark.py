"""python -m benchmarks.models: the tiny run, the full-size build path, and the CPU refusal.

No wall-clock assertions: timings depend on the machine; the tests check that every row is there,
that the counts of denoiser calls are those of the settings, and that the ratios are finite.
"""

from __future__ import annotations

import math

import pytest
import torch

import benchmarks.model_configs as model_configs
from benchmarks import models
from freqlab.models import tiny

COLUMNS = {
    "model",
    "params",
    "size",
    "call_s",
    "plain_s",
    "plain_calls",
    "fi_s",
    "fi_calls",
    "percall",
    "outside",
    "peak_GB",
    "dtype",
}


def _check_row(row, steps, num_iters, calls_per_step):
    assert COLUMNS <= set(row)
    assert row["plain_calls"] == steps * calls_per_step
    assert row["fi_calls"] == num_iters * steps * calls_per_step
    for key in ("call_s", "plain_s", "fi_s", "percall", "outside", "peak_GB"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row)


def test_tiny_run_prints_a_row_per_model(capsys):
    # A UNet model (guidance batched: one call a step) and the DiT (cond and uncond calls).
    rows = models.run(
        [
            "--models",
            "animatediff,wan21_t2v_1_3b",
            "--steps",
            "2",
            "--num-iters",
            "2",
            "--repeats",
            "1",
        ]
    )
    assert [r["model"] for r in rows] == ["animatediff", "wan21_t2v_1_3b"]
    _check_row(rows[0], 2, 2, calls_per_step=1)
    _check_row(rows[1], 2, 2, calls_per_step=2)
    assert rows[0]["size"] == "8x32x32" and rows[1]["size"] == "5x32x32"
    out = capsys.readouterr().out
    assert "scale tiny" in out and "percall goal <= 1.02" in out
    assert all(name in out for name in ("animatediff", "wan21_t2v_1_3b"))


def test_full_build_path_runs_with_small_configs(monkeypatch):
    # The --scale full code (components built from configs, the registry's scheduler, float32
    # kept where the registry keeps it) on CPU, with the tiny configs standing in for the
    # full-size ones so that it runs in seconds.
    full = model_configs.BENCH_MODELS["wan21_t2v_1_3b"]
    small = model_configs.BenchModel(
        full.name,
        components=dict(
            text_encoder=("UMT5EncoderModel", tiny.UMT5_CONFIG),
            vae=("AutoencoderKLWan", tiny.WAN_VAE_CONFIG),
            transformer=("WanTransformer3DModel", tiny.WAN_TRANSFORMER_CONFIG),
        ),
        denoiser="transformer",
        tiny=full.tiny,
    )
    monkeypatch.setitem(model_configs.BENCH_MODELS, full.name, small)
    row = models.benchmark_model(
        full.name,
        "full",
        torch.device("cpu"),
        torch.float32,
        steps=1,
        num_iters=2,
        repeats=1,
        size=(5, 32, 32),
    )
    _check_row(row, 1, 2, calls_per_step=2)
    assert row["params"] == sum(
        p.numel()
        for p in torch.nn.Module.parameters(
            model_configs.build_component("WanTransformer3DModel", tiny.WAN_TRANSFORMER_CONFIG)
        )
    )


def test_every_full_pipeline_builds_on_meta():
    # Wiring of every full-size pipeline (tokenizers, pipeline arguments, dtypes) without memory.
    for name, bench in model_configs.BENCH_MODELS.items():
        pipe = models.build_full(name, torch.device("meta"), torch.bfloat16)
        denoiser = getattr(pipe, bench.denoiser)
        assert next(denoiser.parameters()).is_meta
        assert type(pipe).__name__ == models.get_model_spec(name).pipeline


def test_full_scale_on_cpu_refuses_without_force():
    with pytest.raises(SystemExit, match="--force"):
        models.run(["--scale", "full", "--device", "cpu"])


def test_bad_arguments():
    with pytest.raises(SystemExit, match="unknown model"):
        models.run(["--models", "nope"])
    with pytest.raises(SystemExit, match="FxHxW"):
        models.run(["--size", "8x32"])


def test_a_registered_model_without_configuration_is_named(monkeypatch):
    monkeypatch.delitem(model_configs.BENCH_MODELS, "zeroscope")
    with pytest.raises(SystemExit, match="zeroscope: registered, but without a full config"):
        models.run(["--models", "zeroscope"])
