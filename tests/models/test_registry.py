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
