"""Start-up validation (experiments.settings, experiments.preflight,
experiments.metric_suite): every bad value, key, path or weights file is refused with one message
naming it, before any model loads. Configs are composed in-process with Hydra's compose API; the
run.py subprocess checks are in tests/test_run.py."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

import experiments.preflight as preflight
from experiments.metric_suite import MetricSuite
from experiments.preflight import PathError, check_job, check_keys, check_writable
from experiments.settings import ConfigError, resolve
from freqlab.models import load_model

CONF = Path(__file__).resolve().parents[2] / "conf"


def _compose(overrides: list[str], root: Path | None = None) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    root = root or Path("/tmp/freqlab-settings-test")
    with open_dict(cfg):  # outside a Hydra run the ${hydra:...} resolvers have nothing to read
        cfg.paths.root = str(root)
        cfg.paths.output_dir = str(root / "out")
        cfg.paths.cache_dir = str(root / "cache")
    return cfg


def _refused(overrides: list[str], match: str) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        resolve(_compose(overrides))
    return str(info.value)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.height=30"], r"model\.height must be a multiple of 8 for testbed \(e\.g\. 24 or"),
        (["model=tiny_animatediff", "model.width=30"], r"model\.width must be a multiple of 8"),
        (["model=animatediff", "model.height=30"], r"model\.height must be a multiple of 8 for"),
        (["model=wan21_t2v_1_3b", "model.height=472"], r"model\.height must be a multiple of 16"),
        (["model=wan21_t2v_1_3b", "model.num_frames=16"], r"model\.num_frames must be 4k \+ 1"),
        (["model=tiny_animatediff", "model.num_frames=33"], r"model\.num_frames must be at most"),
        (["model=animatediff_v1", "model.num_frames=25"], r"model\.num_frames must be at most 24"),
        (["model.num_frames=1"], r"model\.num_frames must be an integer >= 2"),
        (["model.num_inference_steps=0"], r"model\.num_inference_steps must be an integer >= 1"),
        (["model.guidance_scale=-1"], r"model\.guidance_scale must be >= 0"),
        (["model.guidance_scale=nan"], r"model\.guidance_scale must be finite"),
        (["fps=0"], r"fps must be an integer >= 1"),
        (["threads=0"], r"threads must be an integer >= 1"),
        (["freeu=model", "freeu.b1=-1"], r"freeu\.b1 must be a finite real number >= 0"),
        (["freeu=model", "freeu.s2=-0.2"], r"freeu\.s2 must be a finite real number >= 0"),
        (["freeinit.fast_sampling=maybe"], r"freeinit\.fast_sampling must be a bool"),
        (["freeinit.variance_preserving=1"], r"freeinit\.variance_preserving must be a bool"),
        (["freeu.enabled=maybe"], r"freeu\.enabled must be true or false"),
        (["model.vae_tiling=yes please"], r"model\.vae_tiling must be true or false"),
        (["model=animatediff", "model.cpu_offload=all"], r"model\.cpu_offload must be null"),
        (["dtype=float16", "device=cpu"], r"dtype=float16 needs a CUDA device"),
        (["dtype=bfloat16", "device=cpu"], r"dtype=bfloat16 needs a CUDA device"),
        (["freenoise=default", "freenoise.context_stride=0"], r"freenoise\.context_stride"),
        (["freenoise=default", "freenoise.weighting=cosine"], r"freenoise\.weighting"),
        (["freenoise=default", "freenoise.noise=none"], r"freenoise\.noise"),
        (["freenoise=default", "freenoise.fix_tail=1"], r"freenoise\.fix_tail"),
        (
            ["freenoise=default"],  # the testbed samples 8 frames by default
            r"freenoise\.context_length must be <= model\.num_frames \(8\), got 16",
        ),
        (
            ["freenoise=default", "model.num_frames=64", "freenoise.context_length=48"],
            r"freenoise\.context_length must be <= 32, the positions of testbed's motion module",
        ),
        (
            ["freenoise=default", "model=wan21_t2v_1_3b"],
            r"freenoise\.windows: FreeNoise's window fusion needs a UNet's temporal attention; "
            r"model wan21_t2v_1_3b has no UNet",
        ),
        (["model.num_frames=40"], r"model\.num_frames must be at most 32"),
        (
            ["freqprior=default", "freeinit.enabled=true"],
            r"freeinit\.enabled and freqprior\.enabled are both true",
        ),
        (
            ["freqprior=default", "freqprior.mid_step=321"],  # not in the testbed's schedule
            r"freqprior\.mid_step must be one of the schedule's timesteps after the first \(999\) "
            r"at model\.num_inference_steps=25, got 321; nearest: 375, 333, 291 \(or mid_step=auto\)",
        ),
        (["freqprior=default", "freqprior.mid_step=999"], r"freqprior\.mid_step must be one of"),
        (["freqprior=default", "freqprior.mid_step=fast"], r"freqprior\.mid_step must be auto or"),
        (
            ["freqprior=default", "model.num_inference_steps=1"],
            r"freqprior: needs model\.num_inference_steps >= 2",
        ),
        (["freqprior=default", "freqprior.ratio=0"], r"freqprior\.ratio"),
        (["freqprior=default", "freqprior.ratio=1.5"], r"freqprior\.ratio"),
        (["freqprior=default", "freqprior.d0=2"], r"freqprior\.d0"),
        (["freqprior=default", "freqprior.method=sharp"], r"freqprior\.method"),
        (["freqprior=default", "freqprior.num_iters=0"], r"freqprior\.num_iters"),
        (["freqprior=default", "freqprior.rng=global"], r"freqprior\.rng"),
        (
            ["freeinit.renoise_timestep=first"],
            r"freeinit\.renoise_timestep must be auto, last or an int timestep, got 'first'",
        ),
        (["freeinit.renoise_timestep=1000"], r"freeinit\.renoise_timestep must be in \[0, 999\]"),
        (["freeinit.flow_sigma=1.5"], r"freeinit\.flow_sigma must be in \(0, 1\), got 1\.5"),
        (["freeinit.flow_sigma=high"], r"freeinit\.flow_sigma must be a number"),
        (
            ["freqprior=default", "freqprior.renoise_timestep=-1"],
            r"freqprior\.renoise_timestep must be auto, last or an int timestep, got -1",
        ),
        (["freqprior=default", "freqprior.flow_sigma=0"], r"freqprior\.flow_sigma must be in"),
        (
            ["freqprior=default", "model=tiny_wan", "freqprior.mid_step=602"],
            r"freqprior\.mid_step must be auto for the flow-matching model tiny_wan, got 602: "
            r"flow schedules stop at a noise level, freqprior\.mid_sigma",
        ),
        (
            ["freqprior=default", "model=tiny_wan", "freqprior.mid_sigma=1.5"],
            r"freqprior\.mid_sigma must be in \(0, 1\), a flow-matching noise level, got 1\.5",
        ),
        (
            ["freqprior=default", "model=tiny_wan22", "freqprior.mid_sigma=half"],
            r"freqprior\.mid_sigma must be auto or a number in \(0, 1\), got 'half'",
        ),
        # validated on DDPM-type models too, where it is not used
        (["freqprior=default", "freqprior.mid_sigma=0"], r"freqprior\.mid_sigma must be in"),
        (
            ["freqprior=default", "model=tiny_wan", "model.num_inference_steps=1"],
            r"freqprior: needs model\.num_inference_steps >= 2",
        ),
        (
            # tiny_wan's 10 steps at shift 3: 0.99 is nearest sigma 0.960, above flow_sigma 0.9
            ["freqprior=default", "model=tiny_wan", "freqprior.mid_sigma=0.99"]
            + ["freqprior.flow_sigma=0.9"],
            r"freqprior\.flow_sigma 0\.9 is below the noise level where the passes stop",
        ),
        (["bytheway=default", "bytheway.alpha=1.5"], r"bytheway\.alpha"),
        (["bytheway=default", "bytheway.tau=-1"], r"bytheway\.tau"),
        (["bytheway=default", "bytheway.fraction=0"], r"bytheway\.fraction"),
        (["bytheway=default", "bytheway.beta=0.5"], r"bytheway\.beta"),
        (
            ["bytheway=default", "bytheway.tau=4"],  # the testbed samples 8 frames
            r"bytheway\.tau must be < half the frames its attention sees \(4: model\.num_frames",
        ),
        (
            ["bytheway=default", "model=wan21_t2v_1_3b"],
            r"bytheway\.enabled: ByTheWay needs a UNet's temporal attention; model wan21_t2v_1_3b "
            r"has no UNet",
        ),
        (
            ["bytheway=default", "model=tiny_modelscope"],
            r"bytheway\.enabled: ByTheWay does not apply to model tiny_modelscope",
        ),
        (
            ["freelong=default", "model.num_frames=40"],  # the testbed's motion module: 32
            r"model\.num_frames must be at most 32",
        ),
        (["freelong=default", "freelong.window=0"], r"freelong\.window"),
        (["freelong=default", "freelong.method=sharp"], r"freelong\.method"),
        (["freelong=default", "freelong.d0=2"], r"freelong\.d0"),
        (["freelong=default", "freelong.mask=soft"], r"freelong\.mask"),
        (
            ["freelong=default", "model=wan21_t2v_1_3b"],
            r"freelong\.enabled: FreeLong needs a UNet's temporal attention; model wan21_t2v_1_3b "
            r"has no UNet",
        ),
        (
            ["freelong=default", "freenoise=default", "model.num_frames=20"],
            r"freenoise\.enabled and freelong\.enabled are both true",
        ),
        (["bytheway=default", "freelong=default"], r"bytheway\.enabled and freelong\.enabled"),
    ],
)
def test_bad_values_are_refused_naming_the_key(overrides, message):
    _refused(overrides, message)


# --------------------------------------------------------------------------- methods x models

_FREEU_FACTORS = ["freeu.enabled=true", "freeu.b1=1.1", "freeu.b2=1.2", "freeu.s1=0.9"]


@pytest.mark.parametrize(
    "model, overrides, key, method",
    [
        ("tiny_wan", [*_FREEU_FACTORS, "freeu.s2=0.2"], "freeu.enabled", "FreeU"),
        ("tiny_cogvideox", ["freeu=model"], "freeu.enabled", "FreeU"),
        ("tiny_wan22", ["freeu=model"], "freeu.enabled", "FreeU"),
        ("tiny_wan", ["freenoise=default"], "freenoise.windows", "FreeNoise's window fusion"),
        ("tiny_cogvideox", ["freenoise=default"], "freenoise.windows", "FreeNoise's window fusion"),
        ("tiny_wan", ["bytheway=default"], "bytheway.enabled", "ByTheWay"),
        ("tiny_cogvideox", ["bytheway=default"], "bytheway.enabled", "ByTheWay"),
        ("tiny_wan", ["freelong=default"], "freelong.enabled", "FreeLong"),
        ("cogvideox_2b", ["freelong=default"], "freelong.enabled", "FreeLong"),
    ],
)
def test_unet_methods_on_a_dit_name_the_key_the_model_and_the_method(model, overrides, key, method):
    # Before any other check of the method (FreeU's factors, frame counts): one message, the
    # config key first, then the method and the model.
    message = _refused([f"model={model}", *overrides], f"^{re.escape(key)}: ")
    assert f"{method} needs a UNet" in message and f"model {model} has no UNet" in message


def test_freenoise_noise_alone_serves_a_dit():
    fn = resolve(
        _compose(
            [
                "model=tiny_wan",
                "freenoise=default",
                "freenoise.windows=false",
                "model.num_frames=17",  # 5 latent frames
                "freenoise.context_length=4",
                "freenoise.context_stride=2",
                "device=cpu",
            ]
        )
    )
    assert fn.freenoise == dict(
        context_length=4,
        context_stride=2,
        weighting="pyramid",
        noise="shuffle_context",
        fix_tail=True,
        windows=False,
    )
    assert fn.identity["freenoise"] == fn.freenoise  # windows=false: its own samples


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["model=tiny_wan"],  # 5 frames: 2 latent frames
            r"^freenoise\.context_length must be <= the latent frames of model tiny_wan \(2 at "
            r"model\.num_frames=5: its VAE compresses time 4x\), got 16",
        ),
        (["freenoise.windows=maybe"], r"^freenoise\.windows must be true or false"),
        # No windows on a UNet: the motion module sees every frame, its limit holds.
        (["model.num_frames=40"], r"^model\.num_frames must be at most 32"),
    ],
)
def test_freenoise_noise_alone_refusals(overrides, message):
    _refused(["freenoise=default", "freenoise.windows=false", *overrides], message)


@pytest.mark.parametrize("overrides", [["model.guidance_scale=0"], ["model.guidance_scale=1"]])
def test_guidance_off_is_allowed(overrides):
    # diffusers guides only when guidance_scale > 1: 0 and 1 both sample the conditional model
    assert resolve(_compose(overrides)).call_kwargs["guidance_scale"] in (0.0, 1.0)


def test_an_own_adapter_lifts_the_registered_frame_limit():
    settings = resolve(
        _compose(["model=animatediff_v1", "model.num_frames=32", "model.adapter=/my/adapter"])
    )
    assert settings.call_kwargs["num_frames"] == 32


def test_the_resolved_dtype_is_stored_never_auto(monkeypatch):
    settings = resolve(_compose(["device=cpu"]))
    assert settings.dtype == settings.identity["dtype"] == "float32"
    pipe = load_model(settings.model, **settings.load_kwargs)  # the testbed, on the CPU
    assert str(pipe.unet.dtype) == f"torch.{settings.dtype}"  # what the job really runs in
    # on a GPU: each real model's half precision, float32 for models built in code
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    expected = {
        "animatediff": "float16",
        "wan21_t2v_1_3b": "bfloat16",
        "tiny_modelscope": "float32",
    }
    for model, dtype in expected.items():
        settings = resolve(_compose([f"model={model}", "device=cuda"]))
        assert settings.dtype == settings.identity["dtype"] == dtype
    assert resolve(_compose(["model=animatediff", "device=cuda", "dtype=bfloat16"])).dtype == (
        "bfloat16"
    )


def test_identity_keeps_its_structure():
    identity = resolve(_compose(["device=cpu"])).identity
    assert list(identity) == [
        "model",
        "weights",
        "scheduler",
        "call",
        "freeinit",
        "freeu",
        "device",
        "dtype",
        "weights_digest",
    ]


def test_methods_join_the_identity_only_when_on():
    fp = resolve(_compose(["freqprior=default", "device=cpu"]))
    assert fp.sampler == "freqprior" and fp.freeinit["num_iters"] == 1
    assert fp.identity["freqprior"] == fp.freqprior and "freenoise" not in fp.identity
    # 25 DDIM steps on a linspace schedule: no 321; auto takes the nearest later timestep
    assert fp.freqprior["mid_step"] == 333 and fp.freqprior["save_intermediate"] is True
    assert fp.unet_steps() == [25, 41, 57]
    fn = resolve(_compose(["freenoise=default", "model.num_frames=40", "device=cpu"]))
    # windows=true (the default) keeps the identity FreeNoise had before freenoise.windows
    assert fn.freenoise["windows"] is True and "windows" not in fn.identity["freenoise"]
    assert fn.identity["freenoise"] == {k: v for k, v in fn.freenoise.items() if k != "windows"}
    assert fn.call_kwargs["num_frames"] == 40
    assert fn.sampler == "freeinit" and "freqprior" not in fn.identity
    bw = resolve(_compose(["bytheway=default", "device=cpu"]))
    # null values take the model's recommendation (the testbed is AnimateDiff: 7, 0.6, 1.5), tau
    # at most F/2 - 1 (every bin but DC, what 7 means at 16 frames): 3 at the testbed's 8
    assert bw.bytheway == dict(tau=3, alpha=0.6, beta=1.5, fraction=0.2, clamp=False)
    assert bw.identity["bytheway"] == bw.bytheway and "freelong" not in bw.identity
    fl = resolve(_compose(["freelong=default", "device=cpu"]))
    assert fl.identity["freelong"] == fl.freelong and fl.freelong["window"] == 16
    # past the motion module's 32 positions with a position strategy
    fl = resolve(
        _compose(
            [
                "freelong=default",
                "freelong.positions=interpolate",
                "model.num_frames=40",
                "device=cpu",
            ]
        )
    )
    assert fl.call_kwargs["num_frames"] == 40 and fl.freelong["positions"] == "interpolate"


def test_freqprior_stops_flow_models_at_mid_sigma():
    # tiny_wan: 10 Euler steps at shift 3, sigmas 1, .960, .913, .858, .790, .707, .602, .465,
    # .278, .009; auto (0.5369) is nearest .602: index 6, timestep 602.
    fp = resolve(_compose(["freqprior=default", "model=tiny_wan", "device=cpu"]))
    assert fp.freqprior["mid_sigma"] == 0.5369 and fp.freqprior["mid_step"] == 602
    assert fp.unet_steps() == [10, 16, 22] and fp.make_sampler().mid_sigma == 0.5369
    assert fp.identity["freqprior"] == fp.freqprior  # another mid_sigma is another sample
    # tiny_wan22: 10 steps at shift 12, .624 at index 8 (the low-noise expert's second step)
    fp22 = resolve(_compose(["freqprior=default", "model=tiny_wan22", "device=cpu"]))
    assert fp22.freqprior["mid_step"] == 624 and fp22.unet_steps() == [10, 18, 26]
    early = resolve(
        _compose(["freqprior=default", "model=tiny_wan", "freqprior.mid_sigma=0.8", "device=cpu"])
    )
    assert early.freqprior["mid_sigma"] == 0.8 and early.freqprior["mid_step"] == 790
    assert early.unet_steps() == [10, 14, 18]
    # DDPM-type models: no mid_sigma entry (it means nothing there; their keys stay as before)
    ddpm = resolve(_compose(["freqprior=default", "device=cpu"]))
    assert "mid_sigma" not in ddpm.freqprior and ddpm.freqprior["mid_step"] == 333


@pytest.mark.parametrize(
    "model, mid_step, unet_steps",
    [
        # LTX-Video: linspace(1, 1/S, S) shifted by mu from the latent tokens (tiny: 3x4x4 at
        # 17 frames 32x32; real: 21x15x22 at 161 frames 704x480): stops at .511 / .548
        ("tiny_ltx", 511, [10, 16, 22]),
        ("ltx_video", 548, [50, 96, 142]),
        # Mochi: linear-quadratic levels, inverted timesteps (the scheduler's 382 is level .618)
        ("tiny_mochi", 382, [10, 18, 26]),
        ("mochi", 451, [64, 117, 170]),
        # HunyuanVideo 1.5: linspace(1, 0, S + 1)[:-1] at shift 5
        ("tiny_hunyuanvideo15", 556, [10, 18, 26]),
        ("hunyuanvideo15", 523, [50, 91, 132]),
    ],
)
def test_freqprior_on_pipelines_that_set_their_own_schedule(model, mid_step, unet_steps):
    # Their pipelines pass their own sigmas to the scheduler: mid_step records the timestep of
    # mid_sigma's step on that schedule, and unet_steps counts the steps before it.
    fp = resolve(_compose(["freqprior=default", f"model={model}", "device=cpu"]))
    assert fp.freqprior["mid_sigma"] == 0.5369 and fp.freqprior["mid_step"] == mid_step
    assert fp.unet_steps() == unet_steps


def test_freqprior_runner_stop_is_the_pipelines_on_tiny_ltx():
    # The latent grid the runner derives before loading (LTX's shift counts its tokens) is the
    # pipeline's: the job's sampler stops at the step and timestep the settings recorded.
    fp = resolve(
        _compose(["freqprior=default", "model=tiny_ltx", "freqprior.num_iters=2", "device=cpu"])
    )
    pipe = load_model("tiny_ltx")
    result = fp.make_sampler()(
        pipe, prompt="a cat", generator=[torch.Generator().manual_seed(0)], **fp.call_kwargs
    )
    total = fp.call_kwargs["num_inference_steps"]
    assert fp.unet_steps() == [total, result.mid_index + total]
    assert result.mid_step == fp.freqprior["mid_step"] and result.mid_index == 6
    assert result.unet_calls == [total, total]  # save_intermediate: every pass runs to the end


def test_renoising_keys_reach_the_samplers():
    # freeinit.flow_sigma / renoise_timestep (and freqprior's) pass through to the library,
    # which validates them; the defaults are 0.96 and auto.
    default = resolve(_compose(["device=cpu"]))
    assert default.freeinit["flow_sigma"] == 0.96
    assert default.freeinit["renoise_timestep"] == "auto"
    off = resolve(_compose(["freeinit=off", "device=cpu"]))
    assert off.freeinit["flow_sigma"] == 0.96 and off.freeinit["renoise_timestep"] == "auto"
    assert default.make_sampler().renoise_timestep == "auto"  # the job's sampler takes them
    set_ = resolve(
        _compose(["freeinit.renoise_timestep=900", "freeinit.flow_sigma=0.9", "device=cpu"])
    )
    assert set_.freeinit["renoise_timestep"] == 900 and set_.freeinit["flow_sigma"] == 0.9
    assert set_.identity["freeinit"] == set_.freeinit  # a new value is a new sample
    assert (
        resolve(_compose(["freeinit.renoise_timestep=last", "device=cpu"])).freeinit[
            "renoise_timestep"
        ]
        == "last"
    )
    fp = resolve(
        _compose(
            [
                "freqprior=default",
                "freqprior.renoise_timestep=last",
                "freqprior.flow_sigma=0.9",
                "device=cpu",
            ]
        )
    )
    assert fp.freqprior["renoise_timestep"] == "last" and fp.freqprior["flow_sigma"] == 0.9
    assert fp.make_sampler().config["renoise_timestep"] == "last"
    fp = resolve(_compose(["freqprior=default", "device=cpu"]))
    assert fp.freqprior["renoise_timestep"] == "auto" and fp.freqprior["flow_sigma"] == 0.96


def test_identity_records_the_weights_a_local_copy_holds(tmp_path, pipeline_layout):
    """A local directory whose files are replaced gives other cache keys."""
    local = pipeline_layout(tmp_path / "ms")
    cfg = _compose(["model=modelscope", f"model.path={local}", "device=cpu"])
    first = resolve(cfg).identity
    assert first["weights_digest"].startswith("pipeline=local:")
    (local / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"retrained")
    assert resolve(cfg).identity["weights_digest"] != first["weights_digest"]
    # not on this machine: no digest (the start-up check then refuses the job)
    assert "weights_digest" not in resolve(_compose(["model=modelscope", "device=cpu"])).identity


# --------------------------------------------------------------------------- keys


def _keys(overrides: list[str]) -> None:
    check_keys(_compose(overrides), overrides)


@pytest.mark.parametrize(
    "overrides, named",
    [
        (["+freeint.d0=0.25"], r"freeint\.d0 \(did you mean freeinit\?\)"),
        (["+model.eta=1"], r"model\.eta"),
        (["model=testbed", "+model.path=/x"], r"model\.path"),  # testbed has no weights to point at
        (["+freeinit.d1=0.3", "+paths.tmp=/x"], r"freeinit\.d1.*paths\.tmp"),  # all in one message
        (["+metrics.weights.x.y=1"], r"metrics\.weights\.x\.y"),
    ],
)
def test_keys_nothing_reads_are_refused(overrides, named):
    with pytest.raises(ConfigError, match=f"unknown config key.*{named}"):
        _keys(overrides)


def test_a_top_level_key_is_refused_without_the_command_line():
    cfg = _compose([])
    with open_dict(cfg):
        cfg.freeint = {"d0": 0.25}
    with pytest.raises(ConfigError, match="freeint"):
        check_keys(cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model=animatediff", "freeinit.d0=0.25"],  # the README's command
        ["task=snr"],
        ["task=train_testbed"],
        ["task=plan", "freeinit.num_iters=5"],
        ["experiment=paper_table1", "prompt_files.msrvtt=/data/msrvtt.csv"],
        ["metrics=pixel", "metrics.encoder=null", "+metrics.weights.dino_vits16=/w.pth"],
        ["++freeinit.d0=0.3", "hydra/launcher=parallel", "+hydra.job.env_set.X=1"],
        *[[f"experiment={p.stem}"] for p in sorted((CONF / "experiment").glob("*.yaml"))],
    ],
)
def test_every_documented_key_is_accepted(overrides):
    _keys(overrides)


def test_weights_for_an_unused_encoder_are_refused():
    cfg = _compose(["+metrics.weights.dino_vits16=/w.pth"])  # metrics=pixel: no DINO
    with pytest.raises(ConfigError, match=r"metrics\.weights\.dino_vits16: no selected metric"):
        MetricSuite.from_config(cfg.metrics)
    cfg = _compose(["metrics=paper", "metrics.names=[motion]", "metrics.weights.dino_vits16=/w"])
    with pytest.raises(ConfigError, match=r"metrics\.weights\.dino_vits16: no selected metric"):
        MetricSuite.from_config(cfg.metrics)
    cfg = _compose(["+metrics.weights.dino_vitss16=/w.pth"])
    with pytest.raises(ConfigError, match=r"metrics\.weights\.dino_vitss16: unknown encoder"):
        MetricSuite.from_config(cfg.metrics)
    # null weights of the paper metrics' encoders are fine whatever the names
    MetricSuite.from_config(_compose(["metrics=paper", "metrics.names=[motion]"]).metrics)


# --------------------------------------------------------------------------- metric weights


def test_missing_metric_weights_name_the_key():
    cfg = _compose(["metrics=paper", "metrics.weights.dino_vits16=/nonexistent"])
    with pytest.raises(FileNotFoundError, match=r"metrics\.weights\.dino_vits16='/nonexistent'"):
        MetricSuite.from_config(cfg.metrics).check_weights()


def test_a_corrupt_metric_checkpoint_names_the_key(tmp_path):
    bad = tmp_path / "dino.pth"
    bad.write_bytes(b"\x51" + os.urandom(2047))  # random bytes
    cfg = _compose(["metrics=paper", f"metrics.weights.dino_vits16={bad}"])
    with pytest.raises(ConfigError) as info:
        MetricSuite.from_config(cfg.metrics).check_weights()
    message = str(info.value)
    assert message.startswith(f"metrics.weights.dino_vits16={bad}: {bad} is not a valid checkpoint")
    assert "weights_only" not in message


# --------------------------------------------------------------------------- paths


def test_writable_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")
    check_writable(tmp_path / "new" / "deeper", "paths.root")  # creatable: fine, nothing made
    assert not (tmp_path / "new").exists()
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(PathError, match=rf"paths\.root={afile}/x: cannot write there: .*not a dir"):
        check_writable(afile / "x", "paths.root")
    with pytest.raises(PathError, match="File name too long"):
        check_writable(tmp_path / ("x" * 300), "paths.cache_dir")


def test_read_only_and_denied_paths(tmp_path, monkeypatch):
    # simulated: tests may run as root, who may write anywhere
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PathError, match=rf"paths\.cache_dir={tmp_path}/c: cannot write there"):
        check_writable(tmp_path / "c", "paths.cache_dir")
    real = os.statvfs(tmp_path)

    class ReadOnly:
        f_flag = real.f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(PathError, match="Read-only file system"):
        check_writable(tmp_path / "c", "paths.cache_dir")


def test_a_full_disk_is_refused_at_start_up(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=100 << 20))
    monkeypatch.delenv("FREQLAB_MIN_FREE_MB", raising=False)
    with pytest.raises(PathError, match=r"paths\.root=.*only 100 MiB free .* below the 1024 MiB"):
        check_writable(tmp_path, "paths.root")
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "50")
    check_writable(tmp_path, "paths.root")


# --------------------------------------------------------------------------- the whole check


@pytest.mark.parametrize(
    "overrides", [[], ["task=snr"], ["task=train_testbed"], ["task=plan", "model=animatediff"]]
)
def test_every_task_passes_its_start_up_check(tmp_path, monkeypatch, overrides):
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")
    check_job(_compose(overrides, tmp_path), overrides)


def test_a_real_model_without_weights_fails_with_one_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")
    overrides = ["model=animatediff", "freeinit.d0=0.25"]
    with pytest.raises(ValueError) as info:
        check_job(_compose(overrides, tmp_path), overrides)
    message = str(info.value)
    assert "guoyww/animatediff-motion-adapter-v1-5-2" in message and "HF_HUB_OFFLINE=1" in message
    # the paper metrics' weights are missing too: said in the same message
    assert "The metrics' weights are missing too" in message
    assert "metrics.weights.dino_vits16" in message and "metrics.weights.clip_vitb32" in message


def test_os_errors_name_the_path():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run", CONF.parent / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    full = OSError(errno.ENOSPC, "No space left on device", "/data/cache/passes/ab/x.safetensors")
    assert run.os_error_message(full) == (
        "cannot write /data/cache/passes/ab/x.safetensors: the disk is full: free some space, or "
        "point paths.cache_dir / hydra.run.dir elsewhere, and re-run the same command (finished "
        "passes are cached)"
    )
    denied = PermissionError(errno.EACCES, "Permission denied", "/shared/out")
    assert "cannot write /shared/out: permission denied" in run.os_error_message(denied)
    assert "read-only" in run.os_error_message(OSError(errno.EROFS, "x", "/ro"))
    long = OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + "a" * 300)
    assert "file name is too long" in run.os_error_message(long)
    # Hydra's output folder, checked before Hydra creates it
    assert run.check_hydra_dirs(["--cfg", "job", "hydra.run.dir=/proc/x"]) is None
    message = run.check_hydra_dirs(["hydra.run.dir=/proc/1/x/${now:%H}"])
    assert message.startswith("hydra.run.dir=/proc/1/x: cannot write there")


def test_plan_skips_weights(tmp_path, monkeypatch):
    """task=plan loads nothing: a sweep can be planned without the weights."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")
    called = []
    monkeypatch.setattr(preflight, "check_weights", lambda cfg: called.append(cfg))
    check_job(_compose(["task=plan", "model=animatediff"], tmp_path))
    assert called == []


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["logger.init_timeout=0"], "logger.init_timeout"),
        (["logger.init_timeout=soon"], "logger.init_timeout"),
        (["logger.mode=onlin"], "logger.mode"),
    ],
)
def test_bad_logger_values_are_refused_at_start_up(tmp_path, monkeypatch, overrides, named):
    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(ValueError, match=named):
        check_job(_compose(overrides, tmp_path), overrides)
