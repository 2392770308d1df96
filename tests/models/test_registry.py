import pytest
import torch
from diffusers import (
    AnimateDiffPipeline,
    TextToVideoSDPipeline,
    UNet3DConditionModel,
    UNetMotionModel,
)

from freqlab.models import MODELS, get_model_spec, load_model


@pytest.mark.parametrize(
    "name, pipeline_cls, unet_cls",
    [
        ("tiny_animatediff", AnimateDiffPipeline, UNetMotionModel),
        ("tiny_modelscope", TextToVideoSDPipeline, UNet3DConditionModel),
    ],
)
def test_tiny_models_build_offline(name, pipeline_cls, unet_cls):
    pipe = load_model(name)
    assert isinstance(pipe, pipeline_cls)
    assert isinstance(pipe.unet, unet_cls)
    assert sum(p.numel() for p in pipe.unet.parameters()) < 2_000_000
    spec = get_model_spec(name)
    assert spec.defaults["num_frames"] == 8
    out = pipe(
        "a red circle",
        num_frames=4,
        height=32,
        width=32,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).frames
    assert out.shape == (1, 4, 4, 8, 8)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["tiny_animatediff", "tiny_modelscope"])
def test_tiny_weights_are_seeded(name):
    a, b, c = load_model(name, seed=0), load_model(name, seed=0), load_model(name, seed=1)
    pa, pb, pc = (next(iter(p.unet.parameters())) for p in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)


def test_scheduler_is_animatediff_ddim():
    cfg = load_model("tiny_animatediff").scheduler.config
    assert cfg.beta_schedule == "linear" and cfg.beta_start == 0.00085 and cfg.beta_end == 0.012
    assert cfg.clip_sample is False and cfg.timestep_spacing == "linspace" and cfg.steps_offset == 1


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'nope'.*tiny_animatediff"):
        load_model("nope")
    assert set(MODELS) >= {"tiny_animatediff", "tiny_modelscope"}


def test_dtype_override():
    pipe = load_model("tiny_modelscope", dtype=torch.float64)
    assert next(pipe.unet.parameters()).dtype == torch.float64


# --------------------------------------------------------------------------- real models

CALL_KEYS = {"num_frames", "height", "width", "num_inference_steps", "guidance_scale"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_spec_is_complete(name):
    from freqlab.freeu import FreeU
    from freqlab.models.pretrained import build_scheduler

    spec = get_model_spec(name)
    assert spec.name == name and spec.family and spec.description
    assert CALL_KEYS <= set(spec.defaults)
    assert isinstance(spec.decode_chunk, int) and spec.decode_chunk >= 1
    if spec.freeu:
        assert set(spec.freeu) == {"b1", "b2", "s1", "s2", "variant", "stages"}
        FreeU(**spec.freeu)  # valid factors
    scheduler = build_scheduler(spec.scheduler)
    assert type(scheduler).__name__ == spec.scheduler["_class_name"]
    if spec.pretrained:
        assert spec.pipeline and spec.references and spec.build is None
    else:
        assert spec.build is not None


def test_documented_defaults():
    ad = get_model_spec("animatediff")
    assert ad.hub_ids == {
        "base": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "adapter": "guoyww/animatediff-motion-adapter-v1-5-2",
    }
    cfg = ad.scheduler
    assert cfg["_class_name"] == "DDIMScheduler" and cfg["beta_schedule"] == "linear"
    assert cfg["clip_sample"] is False and cfg["timestep_spacing"] == "linspace"
    assert cfg["steps_offset"] == 1
    assert (
        get_model_spec("animatediff_v1").hub_ids["adapter"]
        == "guoyww/animatediff-motion-adapter-v1-4"
    )
    assert get_model_spec("animatediff_v1").scheduler == cfg
    assert get_model_spec("modelscope").hub_ids == {"pipeline": "ali-vilab/text-to-video-ms-1.7b"}
    zs = get_model_spec("zeroscope")
    assert zs.hub_ids == {"pipeline": "cerspense/zeroscope_v2_576w"}
    assert (zs.defaults["width"], zs.defaults["height"], zs.defaults["num_frames"]) == (
        576,
        320,
        24,
    )
    vc = get_model_spec("videocrafter2")
    assert vc.hub_ids["unet"] == "adamdad/videocrafterv2_diffusers"
    assert vc.defaults["fps"] == 28 and vc.defaults["eta"] == 1.0
    assert (vc.defaults["height"], vc.defaults["width"], vc.defaults["guidance_scale"]) == (
        320,
        512,
        12.0,
    )
    assert (
        vc.scheduler["_class_name"] == "VideoCrafterDDIMScheduler"
        and vc.scheduler["scale_end"] == 0.7
    )
    # Recommended FreeU factors: SD1.5 for AnimateDiff, the video factors for UNet3D models.
    assert ad.freeu == dict(b1=1.5, b2=1.6, s1=0.9, s2=0.2, variant="v1", stages="diffusers")
    for name in ("modelscope", "zeroscope", "videocrafter2"):
        assert get_model_spec(name).freeu == dict(
            b1=1.2, b2=1.4, s1=0.9, s2=0.2, variant="v1", stages="diffusers"
        )


def test_tiny_scheduler_override_and_dtype_name():
    pipe = load_model(
        "tiny_modelscope", scheduler={"timestep_spacing": "trailing"}, dtype="float64"
    )
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe.scheduler.config.beta_schedule == "linear"
    assert next(pipe.unet.parameters()).dtype == torch.float64


def test_a_scheduler_override_keeps_what_the_testbed_predicts():
    # The override applies on top of the scheduler the weights were trained for.
    import json
    from importlib import resources

    built = load_model("testbed").scheduler.config
    pipe = load_model("testbed", scheduler={"timestep_spacing": "trailing"})
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe.scheduler.config.prediction_type == built.prediction_type
    # The registry's entry (task=snr's levels table reads it) agrees with the shipped weights.
    meta = json.loads(
        resources.files("freqlab.testbed.weights").joinpath("testbed.json").read_text()
    )
    assert get_model_spec("testbed").scheduler["prediction_type"] == built.prediction_type
    assert built.prediction_type == meta["train_config"]["prediction_type"]


def test_device_auto_on_this_machine():
    pipe = load_model("tiny_modelscope", device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pipe.device.type == expected


def test_load_model_defaults_to_device_auto(monkeypatch):
    import inspect

    assert inspect.signature(load_model).parameters["device"].default == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pipe = load_model("tiny_animatediff")
    assert pipe.unet.device.type == "cpu" and pipe.unet.dtype == torch.float32


@pytest.mark.parametrize(
    "name, sizes, problems",
    [
        ("testbed", (8, 32, 32), []),
        ("testbed", (8, 30, 32), [("height", "a multiple of 8 for testbed (e.g. 24 or 32)")]),
        ("tiny_animatediff", (33, 32, 4), ["num_frames", "width"]),
        ("tiny_modelscope", (64, 32, 32), []),  # a UNet3D has no positional limit
        ("animatediff", (16, 512, 520), []),
        ("animatediff", (16, 500, 512), ["height"]),
        ("animatediff_v1", (25, 512, 512), ["num_frames"]),  # mm_sd_v14: 24 positions
        ("wan21_t2v_1_3b", (81, 480, 832), []),
        ("wan21_t2v_1_3b", (16, 488, 832), ["height", "num_frames"]),
        ("cogvideox_5b", (49, 480, 720), []),
        ("cogvideox_5b", (48, 488, 720), ["height", "num_frames"]),
        # LTX-Video: time /8 (8k + 1 frames), space /32 with patch 1.
        ("ltx_video", (161, 480, 704), []),
        ("ltx_video", (121, 480, 704), []),
        (
            "ltx_video",
            (120, 496, 704),
            [
                ("height", "a multiple of 32 for ltx_video (e.g. 480 or 512)"),
                ("num_frames", "8k + 1 for ltx_video's video VAE (e.g. 113 or 121)"),
            ],
        ),
        # Mochi: time /6 (6k + 1 frames), space /8 x patch 2.
        ("mochi", (85, 480, 848), []),
        ("mochi", (84, 480, 848), [("num_frames", "6k + 1 for mochi's video VAE (e.g. 79 or 85)")]),
        ("mochi", (85, 488, 848), ["height"]),
        # HunyuanVideo 1.5: time /4, space /16 with patch 1 (its pipeline floors other sizes).
        ("hunyuanvideo15", (121, 480, 848), []),
        ("hunyuanvideo15", (120, 480, 856), ["num_frames", "width"]),
    ],
)
def test_size_rules(name, sizes, problems):
    found = get_model_spec(name).check_sizes(*sizes)
    if problems and isinstance(problems[0], tuple):
        assert found == problems
    else:
        assert sorted(key for key, _ in found) == sorted(problems)


def test_tiny_size_rules_match_what_the_pipelines_accept():
    """The registry's rules are the pipelines' own: a size it accepts samples, one it refuses
    fails inside diffusers (so refusing it at start-up loses nothing)."""
    pipe = load_model("tiny_animatediff", device="cpu")
    spec = get_model_spec("tiny_animatediff")
    kwargs = dict(prompt="a", num_inference_steps=1, output_type="latent")
    for frames, height in ((2, 24), (32, 16)):
        assert spec.check_sizes(frames, height, 16) == []
        pipe(num_frames=frames, height=height, width=16, **kwargs)
    for frames, height in ((2, 28), (33, 16)):
        assert spec.check_sizes(frames, height, 16) != []
        with pytest.raises((ValueError, RuntimeError)):
            pipe(num_frames=frames, height=height, width=16, **kwargs)
