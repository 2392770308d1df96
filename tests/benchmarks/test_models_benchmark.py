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
from freqlab.models import tiny, tiny_dit, tiny_hunyuan15

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


def _high_noise_steps(name, steps):
    """Steps of the registry's scheduler for ``name`` at or above its boundary (A14B's experts
    switch there, WanPipeline.__call__)."""
    spec = models.get_model_spec(name)
    scheduler = models.build_scheduler(spec.scheduler)
    scheduler.set_timesteps(steps)
    boundary = spec.pipeline_kwargs["boundary_ratio"] * scheduler.config.num_train_timesteps
    return int(sum(t >= boundary for t in scheduler.timesteps))


def test_tiny_run_of_wan22_times_both_experts(capsys):
    # TI2V-5B (Wan 2.2 VAE, per-token timesteps) and A14B (two experts). At 3 steps and shift
    # 12 the low-noise expert runs the last step: both experts are called in both passes.
    steps, num_iters = 3, 2
    rows = models.run(
        [
            "--models",
            "wan22_ti2v_5b,wan22_t2v_a14b",
            "--steps",
            str(steps),
            "--num-iters",
            str(num_iters),
            "--repeats",
            "1",
        ]
    )
    ti2v, a14b = rows
    _check_row(ti2v, steps, num_iters, calls_per_step=2)
    _check_row(a14b, steps, num_iters, calls_per_step=2)
    assert ti2v["size"] == "5x64x64" and a14b["size"] == "5x32x32"
    assert ti2v["denoisers"] == ("transformer",) and len(ti2v["call_s_each"]) == 1
    assert a14b["denoisers"] == ("transformer", "transformer_2")
    high = _high_noise_steps("wan22_t2v_a14b", steps)
    assert 0 < high < steps
    # Cond and uncond calls (guidance 4.0 above the boundary, 3.0 below: both > 1).
    assert a14b["plain_calls_each"] == (2 * high, 2 * (steps - high))
    assert a14b["fi_calls_each"] == tuple(num_iters * n for n in a14b["plain_calls_each"])
    assert len(a14b["call_s_each"]) == 2 and all(t > 0 for t in a14b["call_s_each"])
    assert a14b["call_s"] == pytest.approx(sum(a14b["call_s_each"]) / 2)
    assert a14b["params"] == sum(a14b["params_each"]) and len(set(a14b["params_each"])) == 1
    out = capsys.readouterr().out
    assert f"2x{models._count(a14b['params_each'][0])}" in out
    assert "was not called" not in out


def test_tiny_run_of_ltx_mochi_hunyuanvideo15(capsys):
    # LTX-Video (token-packed latents) and Mochi batch their guidance (one call a step);
    # HunyuanVideo 1.5's guider runs the cond and uncond batches apart (two calls a step), with
    # its guidance scale set on the guider for the plain call too (the pipeline takes none).
    steps, num_iters = 2, 2
    rows = models.run(
        [
            "--models",
            "ltx_video,mochi,hunyuanvideo15",
            "--steps",
            str(steps),
            "--num-iters",
            str(num_iters),
            "--repeats",
            "1",
        ]
    )
    ltx, mochi, hunyuan = rows
    _check_row(ltx, steps, num_iters, calls_per_step=1)
    _check_row(mochi, steps, num_iters, calls_per_step=1)
    _check_row(hunyuan, steps, num_iters, calls_per_step=2)
    assert [r["size"] for r in rows] == ["9x32x32", "7x32x32", "5x32x32"]
    assert all(r["denoisers"] == ("transformer",) for r in rows)
    out = capsys.readouterr().out
    assert all(name in out for name in ("ltx_video", "mochi", "hunyuanvideo15"))


def test_tiny_run_of_cogvideox_2b_and_5b(capsys):
    # CogVideoXPipeline batches its guidance (one call a step); 5b runs the tiny 2b-layout
    # pipeline under its own scheduler.
    steps, num_iters = 2, 2
    rows = models.run(
        [
            "--models",
            "cogvideox_2b,cogvideox_5b",
            "--steps",
            str(steps),
            "--num-iters",
            str(num_iters),
            "--repeats",
            "1",
        ]
    )
    assert [r["model"] for r in rows] == ["cogvideox_2b", "cogvideox_5b"]
    for row in rows:
        _check_row(row, steps, num_iters, calls_per_step=1)
        assert row["size"] == "9x32x32" and row["denoisers"] == ("transformer",)
    assert rows[0]["params"] == rows[1]["params"]  # the same tiny DiT
    assert "cogvideox_5b" in capsys.readouterr().out


def test_tiny_call_arguments_are_the_tiny_registry_defaults():
    # The full models' guidance, the tiny models' text lengths (their tokenizers' and DiTs').
    for name, tiny_name in (("ltx_video", "tiny_ltx"), ("mochi", "tiny_mochi")):
        tiny_defaults = models.get_model_spec(tiny_name).defaults
        kwargs = models.call_arguments(name, "tiny")
        assert kwargs["max_sequence_length"] == tiny_defaults["max_sequence_length"]
        assert kwargs["guidance_scale"] == models.get_model_spec(name).defaults["guidance_scale"]
        assert "max_sequence_length" not in models.call_arguments(name, "full")


def test_guidance_goes_to_a_copy_of_the_guider_for_the_plain_call():
    pipe = tiny_hunyuan15.tiny_hunyuanvideo15(seed=0)
    guider = pipe.guider
    kwargs = dict(prompt="a", guidance_scale=2.5)
    with models._guider_scale(pipe, kwargs) as call_kwargs:
        assert "guidance_scale" not in call_kwargs and call_kwargs["prompt"] == "a"
        assert pipe.guider is not guider and pipe.guider.guidance_scale == 2.5
    assert pipe.guider is guider and guider.guidance_scale == 6.0
    assert kwargs["guidance_scale"] == 2.5  # the caller's arguments untouched
    # A pipeline that takes guidance_scale keeps it.
    ltx = tiny_dit.tiny_ltx(seed=0)
    with models._guider_scale(ltx, kwargs) as call_kwargs:
        assert call_kwargs == kwargs


def test_one_step_is_refused_where_the_schedule_needs_two():
    # LTX-Video's shift_terminal stretch is NaN at one step; Mochi's linear-quadratic sigmas
    # divide by zero there. The warm-up pass runs WARMUP_STEPS, enough for every model.
    with pytest.raises(SystemExit, match="ltx_video, mochi are undefined.*--steps 2"):
        models.run(["--models", "wan21_t2v_1_3b,ltx_video,mochi", "--steps", "1"])
    assert max(m.min_steps for m in model_configs.BENCH_MODELS.values()) <= models.WARMUP_STEPS


def test_an_expert_the_passes_never_reach_is_named():
    # At 2 steps and A14B's shift 12 both steps are above the boundary: the low-noise expert
    # runs in neither pass (its call is timed on the first step's inputs all the same).
    assert _high_noise_steps("wan22_t2v_a14b", 2) == 2
    row = dict(
        model="wan22_t2v_a14b",
        denoisers=("transformer", "transformer_2"),
        plain_calls_each=(4, 0),
        fi_calls_each=(8, 0),
    )
    (note,) = models.expert_notes([row])
    assert "transformer_2 was not called in the plain and FreeInit passes" in note
    assert models.expert_notes([dict(row, plain_calls_each=(2, 2), fi_calls_each=(4, 4))]) == []


def test_model_timer_counts_each_module():
    first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    x = torch.zeros(1, 2)
    with models.ModelTimer([first, second], cuda=False) as timer:
        first(x), second(x), second(x)
    assert timer.calls == 3 and timer.calls_each == [1, 2] and timer.seconds >= 0
    assert timer.first[0][0] is x  # the first call's inputs, for call_s


# --scale full on CPU with tiny configs standing in for the full-size ones (runs in seconds):
# Wan 2.1 (one DiT), Wan 2.2 A14B (two experts built from the configs, the registry's
# boundary_ratio) and Wan 2.2 TI2V (the Wan 2.2 VAE, the registry's expand_timesteps).
_SMALL_FULL = {
    "wan21_t2v_1_3b": (
        dict(
            text_encoder=("UMT5EncoderModel", tiny.UMT5_CONFIG),
            vae=("AutoencoderKLWan", tiny.WAN_VAE_CONFIG),
            transformer=("WanTransformer3DModel", tiny.WAN_TRANSFORMER_CONFIG),
        ),
        (5, 32, 32),
    ),
    "wan22_t2v_a14b": (
        dict(
            text_encoder=("UMT5EncoderModel", tiny.UMT5_CONFIG),
            vae=("AutoencoderKLWan", tiny.WAN_VAE_CONFIG),
            transformer=("WanTransformer3DModel", tiny.WAN_TRANSFORMER_CONFIG),
            transformer_2=("WanTransformer3DModel", tiny.WAN_TRANSFORMER_CONFIG),
        ),
        (5, 32, 32),
    ),
    "wan22_ti2v_5b": (
        dict(
            text_encoder=("UMT5EncoderModel", tiny.UMT5_CONFIG),
            vae=("AutoencoderKLWan", model_configs.TINY_WAN22_VAE),
            transformer=("WanTransformer3DModel", model_configs.TINY_WAN22_TI2V_TRANSFORMER),
        ),
        (5, 64, 64),
    ),
    # CogVideoX-5b's rotary positions (the pipeline builds them from the DiT's config): heads of
    # 16, whose 4 / 6 / 6 time, height and width axes are even (the tiny pipeline's 8 are not).
    "cogvideox_5b": (
        dict(
            text_encoder=("T5EncoderModel", tiny.T5_CONFIG),
            vae=("AutoencoderKLCogVideoX", tiny.COGVIDEOX_VAE_CONFIG),
            transformer=(
                "CogVideoXTransformer3DModel",
                dict(
                    tiny.COGVIDEOX_TRANSFORMER_CONFIG,
                    attention_head_dim=16,
                    use_rotary_positional_embeddings=True,
                ),
            ),
        ),
        (9, 32, 32),
    ),
    "ltx_video": (
        dict(
            text_encoder=("T5EncoderModel", tiny.T5_CONFIG),
            vae=("AutoencoderKLLTXVideo", tiny_dit.LTX_VAE_CONFIG),
            transformer=("LTXVideoTransformer3DModel", tiny_dit.LTX_TRANSFORMER_CONFIG),
        ),
        (9, 32, 32),
    ),
    "mochi": (
        dict(
            text_encoder=("T5EncoderModel", tiny.T5_CONFIG),
            vae=("AutoencoderKLMochi", tiny_dit.MOCHI_VAE_CONFIG),
            transformer=("MochiTransformer3DModel", tiny_dit.MOCHI_TRANSFORMER_CONFIG),
        ),
        (7, 32, 32),
    ),
    # The parts that are not models (Qwen2 and ByT5 tokenizers, the guider) from the BenchModel.
    "hunyuanvideo15": (
        dict(
            text_encoder=("Qwen2_5_VLTextModel", tiny_hunyuan15.QWEN_TEXT_CONFIG),
            text_encoder_2=("T5EncoderModel", tiny_hunyuan15.BYT5_CONFIG),
            vae=("AutoencoderKLHunyuanVideo15", tiny_hunyuan15.HUNYUAN15_VAE_CONFIG),
            transformer=(
                "HunyuanVideo15Transformer3DModel",
                tiny_hunyuan15.HUNYUAN15_TRANSFORMER_CONFIG,
            ),
        ),
        (5, 32, 32),
    ),
}


@pytest.mark.parametrize("name", sorted(_SMALL_FULL))
def test_full_build_path_runs_with_small_configs(monkeypatch, name):
    # The --scale full code (components built from configs, the registry's scheduler and
    # pipeline arguments, float32 kept where the registry keeps it) on CPU.
    full = model_configs.BENCH_MODELS[name]
    components, size = _SMALL_FULL[name]
    small = model_configs.BenchModel(
        full.name,
        components=components,
        denoiser=full.denoiser,
        experts=full.experts,
        tiny=full.tiny,
        tokenizer_length=full.tokenizer_length,
        parts=full.parts,
        min_steps=full.min_steps,
    )
    monkeypatch.setitem(model_configs.BENCH_MODELS, full.name, small)
    # 3: both experts of A14B run; LTX's and Mochi's schedules need 2 (min_steps).
    steps = 3 if full.experts else max(1, full.min_steps)
    row = models.benchmark_model(
        full.name,
        "full",
        torch.device("cpu"),
        torch.float32,
        steps=steps,
        num_iters=2,
        repeats=1,
        size=size,
    )
    # CogVideoX, LTX and Mochi batch cond and uncond into one call; the others call twice a step.
    batched = ("cogvideox_5b", "ltx_video", "mochi")
    _check_row(row, steps, 2, calls_per_step=1 if name in batched else 2)
    assert all(n > 0 for n in row["plain_calls_each"])
    assert row["params"] == sum(
        model_configs.count_parameters(model_configs.build_component(*components[role]))
        for role in full.denoisers
    )
    pipe = models.build_full(name, torch.device("meta"), torch.float32)
    for key, value in models.get_model_spec(name).pipeline_kwargs.items():
        assert pipe.config[key] == value


def test_every_full_pipeline_builds_on_meta():
    # Wiring of every full-size pipeline (tokenizers, pipeline arguments, dtypes) without memory.
    for name, bench in model_configs.BENCH_MODELS.items():
        pipe = models.build_full(name, torch.device("meta"), torch.bfloat16)
        for role in bench.denoisers:
            assert next(getattr(pipe, role).parameters()).is_meta
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
