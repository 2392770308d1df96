"""Every real model's loader, run on tiny models saved in the real repositories' layouts.

The directories come from ``save_pretrained`` of tiny models with the same architecture
(``tiny_dirs`` in conftest), so ``load_model`` takes the code path real weights take. FreeInit and
FreeU then run on each architecture (4 frames, 32x32, 2 steps). Then the device and dtype
policy (``device="auto"``, dtype names, the ``dtype=`` / ``torch_dtype=`` keyword).
"""

import json
import re
import shutil

import pytest
import torch

from freqlab.freeinit import FreeInit
from freqlab.freeu import FreeU
from freqlab.models import WeightsNotFoundError, get_model_spec, load_model, tiny
from freqlab.models.pretrained import dtype_keyword, parse_dtype, resolve_device, resolve_dtype

# model -> (load_model source arguments as tiny_dirs keys, pipeline, denoiser, scheduler)
CASES = {
    "animatediff": (
        dict(base="sd", adapter="adapter"),
        "AnimateDiffPipeline",
        "UNetMotionModel",
        "DDIMScheduler",
    ),
    "animatediff_v1": (
        dict(base="sd", adapter="adapter_v1"),
        "AnimateDiffPipeline",
        "UNetMotionModel",
        "DDIMScheduler",
    ),
    "modelscope": (
        dict(path="ms"),
        "TextToVideoSDPipeline",
        "UNet3DConditionModel",
        "DDIMScheduler",
    ),
    "zeroscope": (
        dict(path="ms"),
        "TextToVideoSDPipeline",
        "UNet3DConditionModel",
        "DDIMScheduler",
    ),
    "videocrafter2": (
        dict(unet="vc2_unet", base="ms"),
        "VideoCrafterPipeline",
        "UNet3DVideoCrafterConditionModel",
        "VideoCrafterDDIMScheduler",
    ),
    "animatediff_sdxl": (
        dict(base="sdxl", adapter="adapter_sdxl"),
        "AnimateDiffSDXLPipeline",
        "UNetMotionModel",
        "DDIMScheduler",
    ),
    "wan21_t2v_1_3b": (
        dict(path="wan"),
        "WanPipeline",
        "WanTransformer3DModel",
        "UniPCMultistepScheduler",
    ),
}


def _load(name, tiny_dirs, **kwargs):
    sources = {role: tiny_dirs[key] for role, key in CASES[name][0].items()}
    pipe = load_model(name, **sources, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _call(name):
    # Wan's VAE compresses time by 4: 5 frames -> 2 latent frames.
    frames = 5 if name.startswith("wan") else 4
    return dict(
        prompt="a red circle", num_frames=frames, height=32, width=32, num_inference_steps=2
    )


def _latents(pipe, name, seed=0):
    out = pipe(**_call(name), generator=torch.Generator().manual_seed(seed), output_type="latent")
    return out.frames


def _denoiser(pipe):
    return pipe.transformer if getattr(pipe, "unet", None) is None else pipe.unet


@pytest.mark.parametrize("name", list(CASES))
def test_loads_from_local_directories(name, tiny_dirs, network_attempts):
    _, pipeline, denoiser, scheduler = CASES[name]
    spec = get_model_spec(name)
    pipe = _load(name, tiny_dirs)
    assert type(pipe).__name__ == pipeline
    assert type(_denoiser(pipe)).__name__ == denoiser
    # The documented scheduler, not the one stored next to the weights.
    assert type(pipe.scheduler).__name__ == scheduler == spec.scheduler["_class_name"]
    for key, value in spec.scheduler.items():
        if not key.startswith("_"):
            assert pipe.scheduler.config[key] == value, key
    assert pipe.vae.dtype == torch.float32 and pipe.device.type == "cpu"
    for loaded, saved in _saved_modules(name, pipe):
        loaded_state, saved_state = loaded.state_dict(), saved.state_dict()
        assert loaded_state.keys() == saved_state.keys()
        for key in saved_state:
            assert torch.equal(loaded_state[key], saved_state[key]), key
    assert network_attempts == []


def _saved_modules(name, pipe):
    """(loaded module, the tiny module it was saved from) pairs to compare."""
    if name.startswith("wan"):
        reference = tiny.tiny_wan()
        return [(pipe.transformer, reference.transformer), (pipe.vae, reference.vae)]
    if name == "videocrafter2":
        return [(pipe.unet, tiny.tiny_videocrafter2_unet()), (pipe.vae, tiny.tiny_modelscope().vae)]
    if name in ("modelscope", "zeroscope"):
        reference = tiny.tiny_modelscope()
        return [(pipe.unet, reference.unet), (pipe.text_encoder, reference.text_encoder)]
    sdxl = name.endswith("sdxl")
    adapter = (
        tiny.tiny_sdxl_motion_adapter()
        if sdxl
        else tiny.tiny_motion_adapter(mid_block=name == "animatediff")
    )
    base = tiny.tiny_stable_diffusion_xl() if sdxl else tiny.tiny_stable_diffusion()
    assert hasattr(pipe.unet.mid_block, "motion_modules") == (name == "animatediff")
    return [
        (pipe.unet.down_blocks[0].motion_modules, adapter.down_blocks[0].motion_modules),
        (pipe.unet.conv_in, base.unet.conv_in),
        (pipe.vae, base.vae),
    ]


@pytest.mark.parametrize("name", list(CASES))
def test_freeinit_and_freeu_run(name, tiny_dirs):
    pipe = _load(name, tiny_dirs)
    result = FreeInit(num_iters=2, method="butterworth")(
        pipe, generator=torch.Generator().manual_seed(0), **_call(name)
    )
    assert len(result.latents) == 2
    baseline, refined = result.latents
    assert baseline.shape == refined.shape and baseline.ndim == 5
    assert torch.isfinite(refined).all()
    assert not torch.allclose(baseline, refined)
    freeu = get_model_spec(name).freeu
    if freeu:  # the recommended factors
        with FreeU(**freeu).apply(pipe.unet):
            with_freeu = _latents(pipe, name)
        assert torch.isfinite(with_freeu).all()
        assert not torch.allclose(with_freeu, baseline)
    # Pass 0 is the plain pipeline call with the same seed (and FreeU is gone again).
    torch.testing.assert_close(_latents(pipe, name), baseline)


def test_freeu_does_not_apply_to_wan():
    assert get_model_spec("wan21_t2v_1_3b").freeu == {}


# --------------------------------------------------------------------------- sources


def test_hub_id_from_the_cache(hub_cache, tiny_dirs, network_attempts):
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    hub_cache.put("ali-vilab/text-to-video-ms-1.7b", tiny_dirs["ms"], sha=sha)
    reference = tiny.tiny_modelscope().unet.state_dict()
    for kwargs in ({}, {"revision": sha}, {"path": f"ali-vilab/text-to-video-ms-1.7b@{sha}"}):
        loaded = load_model("modelscope", **kwargs).unet.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in reference.items())
    assert network_attempts == []


def test_videocrafter2_unet_in_a_pipeline_directory(tiny_dirs, tmp_path):
    # A full VideoCrafterPipeline.save_pretrained directory (UNet under unet/) works as unet=.
    full = tmp_path / "vc2_pipeline"
    tiny.tiny_videocrafter2().save_pretrained(full)
    pipe = load_model("videocrafter2", unet=full, base=tiny_dirs["ms"])
    assert type(pipe.unet).__name__ == "UNet3DVideoCrafterConditionModel"


def test_videocrafter2_config_without_sample_size(tiny_dirs, tmp_path):
    # adamdad/videocrafterv2_diffusers stores "sample_size": null.
    unet = tmp_path / "vc2_unet"
    shutil.copytree(tiny_dirs["vc2_unet"], unet)
    config = json.loads((unet / "config.json").read_text())
    config["sample_size"] = None
    (unet / "config.json").write_text(json.dumps(config))
    pipe = load_model("videocrafter2", unet=unet, base=tiny_dirs["ms"])
    assert pipe.unet.config.sample_size == 64


def _original_animatediff_key(key):
    """diffusers MotionAdapter key -> the original AnimateDiff checkpoint's key."""
    key = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", key)
    key = key.replace(".pos_embed.pe", ".attention_blocks.0.pos_encoder.pe")
    for new, old in [(".norm1", ".norms.0"), (".norm2", ".norms.1"), (".norm3", ".ff_norm")]:
        key = key.replace(new, old)
    return key.replace(".attn1", ".attention_blocks.0").replace(".attn2", ".attention_blocks.1")


def test_animatediff_adapter_from_an_original_checkpoint_file(tiny_dirs, tmp_path):
    # e.g. adapter="/data/mm_sd_v14.ckpt", the file the FreeInit paper used.
    from safetensors.torch import save_file

    adapter = tiny.tiny_motion_adapter(mid_block=False)
    original = {_original_animatediff_key(k): v for k, v in adapter.state_dict().items()}
    checkpoint = tmp_path / "mm_sd_v14.safetensors"
    save_file(original, str(checkpoint))
    pipe = load_model("animatediff_v1", base=tiny_dirs["sd"], adapter=checkpoint)
    loaded = pipe.unet.down_blocks[1].motion_modules.state_dict()
    for key, value in adapter.down_blocks[1].motion_modules.state_dict().items():
        assert torch.equal(loaded[key], value), key


def test_scheduler_override(tiny_dirs):
    pipe = load_model(
        "modelscope", path=tiny_dirs["ms"], scheduler={"timestep_spacing": "trailing"}
    )
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    pipe = load_model(
        "modelscope", path=tiny_dirs["ms"], scheduler={"_class_name": "DPMSolverMultistepScheduler"}
    )
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"


def test_dtype_and_memory_options(tiny_dirs):
    pipe = load_model(
        "modelscope", path=tiny_dirs["ms"], dtype="float64", vae_slicing=True, vae_tiling=True
    )
    assert pipe.unet.dtype == torch.float64 and pipe.text_encoder.dtype == torch.float64
    assert pipe.vae.use_slicing and pipe.vae.use_tiling
    sdxl = _load("animatediff_sdxl", tiny_dirs, dtype=torch.float16)
    assert sdxl.unet.dtype == torch.float16
    assert sdxl.vae.dtype == torch.float32  # SDXL's VAE overflows in fp16


def test_cpu_offload_needs_cuda(tiny_dirs, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="cpu_offload='model' needs a CUDA device"):
        load_model("modelscope", path=tiny_dirs["ms"], cpu_offload="model")
    with pytest.raises(ValueError, match="cpu_offload must be"):
        load_model("tiny_modelscope", cpu_offload="everything")


def test_weight_variant(tmp_path):
    # e.g. variant="fp16" reads *.fp16.safetensors, as the hub repositories name them.
    path = tmp_path / "ms_fp16"
    tiny.tiny_modelscope().save_pretrained(path, variant="fp16")
    assert (path / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    pipe = load_model("modelscope", path=path, variant="fp16")
    assert type(pipe.unet).__name__ == "UNet3DConditionModel"
    with pytest.raises(
        WeightsNotFoundError, match="lacks .*unet/diffusion_pytorch_model.safetensors"
    ):
        load_model("modelscope", path=path)


# --------------------------------------------------------------------------- devices, dtypes


def test_device_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu please")


def test_dtype_policy():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert resolve_dtype(None, cuda, torch.float16) == torch.float16
    assert resolve_dtype(None, cuda, torch.bfloat16) == torch.bfloat16
    assert resolve_dtype(None, cpu, torch.float16) == torch.float32
    assert resolve_dtype("bf16", cpu, torch.float16) == torch.bfloat16
    assert get_model_spec("modelscope").accelerator_dtype == torch.float16
    assert get_model_spec("wan21_t2v_1_3b").accelerator_dtype == torch.bfloat16


@pytest.mark.parametrize(
    "text, dtype",
    [("fp16", torch.float16), ("torch.bfloat16", torch.bfloat16), ("float32", torch.float32)],
)
def test_parse_dtype(text, dtype):
    assert parse_dtype(text) == dtype
    assert parse_dtype(dtype) == dtype


def test_parse_dtype_rejects_unknown_names():
    with pytest.raises(ValueError, match="dtype must be"):
        parse_dtype("int8-ish")


def test_dtype_keyword_of_installed_libraries():
    from diffusers import AutoencoderKL, DiffusionPipeline
    from transformers import CLIPTextModel

    # diffusers 0.42 / transformers 5 take dtype= (torch_dtype= is deprecated).
    assert dtype_keyword(AutoencoderKL.from_pretrained) == "dtype"
    assert dtype_keyword(DiffusionPipeline.from_pretrained) == "dtype"
    assert dtype_keyword(CLIPTextModel.from_pretrained) == "dtype"


def test_dtype_keyword_of_older_signatures():
    def old(path, torch_dtype=None): ...

    def older(path, **kwargs):
        torch_dtype = kwargs.pop("torch_dtype", None)
        return torch_dtype

    def newer(path, **kwargs):
        return kwargs.pop("dtype", None)

    assert dtype_keyword(old) == "torch_dtype"
    assert dtype_keyword(older) == "torch_dtype"
    assert dtype_keyword(newer) == "dtype"


# Today's DiT families: each real entry loads from a directory saved from its tiny counterpart
# (the real repository's layout), and a directory missing a component is refused naming it.
DIT_DIRS = {
    "cogvideox_5b": ("tiny_cogvideox", dict(num_frames=9, height=32, width=32)),
    "ltx_video": ("tiny_ltx", dict(num_frames=9, height=32, width=32)),
    "mochi": ("tiny_mochi", dict(num_frames=7, height=32, width=32)),
    "hunyuanvideo15": ("tiny_hunyuanvideo15", dict(num_frames=5, height=16, width=16)),
}


@pytest.mark.parametrize("name", sorted(DIT_DIRS))
def test_dit_models_load_from_local_directories(name, tmp_path, network_attempts):
    tiny_name, call = DIT_DIRS[name]
    saved = load_model(tiny_name)
    saved.save_pretrained(tmp_path / name)
    pipe = load_model(name, path=tmp_path / name)
    spec = get_model_spec(name)
    assert type(pipe).__name__ == spec.pipeline
    for key, value in spec.scheduler.items():  # the documented scheduler, not the saved one
        if not key.startswith("_"):
            assert pipe.scheduler.config[key] == value, key
    for role in ("transformer", "vae", "text_encoder"):
        loaded, reference = getattr(pipe, role).state_dict(), getattr(saved, role).state_dict()
        assert loaded.keys() == reference.keys()
        assert all(torch.equal(loaded[k], reference[k]) for k in reference), role
    result = FreeInit(num_iters=2)(
        pipe,
        prompt="a red circle",
        generator=torch.Generator().manual_seed(0),
        num_inference_steps=2,
        guidance_scale=spec.defaults["guidance_scale"],
        **call,
    )
    assert all(torch.isfinite(z).all() for z in result.latents)
    assert network_attempts == []
    # A directory without the transformer: one message naming the missing files.
    shutil.rmtree(tmp_path / name / "transformer")
    with pytest.raises(WeightsNotFoundError, match=r"transformer/config\.json"):
        load_model(name, path=tmp_path / name)
