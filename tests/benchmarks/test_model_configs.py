"""The full-size configurations in benchmarks.model_configs build the published architectures.

Each component is built on the ``meta`` device (no storage, no download) and its parameter count
compared with the published one. Where a count is published (model card, paper, or the size of the
repository's float32 / half-precision weight file divided by its bytes per parameter), it says
so; the others are the counts these configurations give, pinned so that a changed configuration
shows up here.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import model_configs
from benchmarks.model_configs import BENCH_MODELS, build_component, count_parameters
from freqlab.models import MODELS

# (model, role) -> (expected count, tolerance as a fraction, where the number comes from).
EXPECTED = {
    # Stable Diffusion v1 model card: "860M UNet" / 123M text encoder; 859,520,964 is the exact
    # count diffusers reports for stable-diffusion-v1-5 unet (and CompVis' "859.52 M params").
    ("animatediff", "unet"): (859_520_964, 1e-6, "SD v1 UNet, 859.52M"),
    ("animatediff", "text_encoder"): (123_060_480, 1e-6, "CLIP ViT-L/14 text, 123.06M"),
    ("animatediff", "vae"): (83_653_863, 1e-6, "SD VAE, 83.65M (KL-f8)"),
    # guoyww/animatediff-motion-adapter-v1-5-2 diffusion_pytorch_model.safetensors: 1.82 GB fp32.
    ("animatediff", "motion_adapter"): (453_209_280, 0.01, "mm_sd_v15_v2, 1.82 GB / 4 B"),
    ("animatediff_v1", "unet"): (859_520_964, 1e-6, "SD v1 UNet, 859.52M"),
    # guoyww/animatediff-motion-adapter-v1-4: 1.67 GB fp32 (noted in freqlab.models.specs).
    ("animatediff_v1", "motion_adapter"): (417_137_600, 0.01, "mm_sd_v14, 1.67 GB / 4 B"),
    # ModelScope: unet fp16 file 2.82 GB -> ~1.41B (the card's "about 1.7 billion" is the
    # whole model: UNet + text encoder + VAE = 1.84B by these counts, so only the UNet is pinned).
    ("modelscope", "unet"): (1_411_233_860, 0.01, "ModelScope UNet3D ~1.41B"),
    ("modelscope", "text_encoder"): (340_387_840, 1e-6, "computed: OpenCLIP-H text, 23 layers"),
    ("zeroscope", "unet"): (1_411_233_860, 0.01, "ModelScope's layout"),
    # VideoCrafter2 = ModelScope's UNet3D + fps embedding (320 -> 1280 -> 1280): +2,050,560.
    ("videocrafter2", "unet"): (1_413_284_420, 1e-6, "computed: ModelScope UNet + fps MLP"),
    # SDXL paper (Podell et al. 2023): 2.6B UNet; exact 2,567,463,684 as diffusers reports.
    ("animatediff_sdxl", "unet"): (2_567_463_684, 1e-6, "SDXL UNet 2.567B"),
    ("animatediff_sdxl", "text_encoder_2"): (694_659_840, 1e-6, "OpenCLIP bigG text 694.66M"),
    ("animatediff_sdxl", "motion_adapter"): (236_779_200, 1e-6, "computed: SDXL beta adapter"),
    # Wan2.1-T2V-1.3B-Diffusers: transformer 1.42B params (hub safetensors metadata; the
    # "1.3B" of the name); VAE ~127M (Wan2.1_VAE.pth, 508 MB fp32); UMT5-XXL encoder ~5.7B
    # (models_t5_umt5-xxl-enc-bf16.pth, 11.4 GB bf16).
    ("wan21_t2v_1_3b", "transformer"): (1_418_996_800, 0.005, "Wan 2.1 1.3B DiT, 1.42B"),
    ("wan21_t2v_1_3b", "vae"): (126_892_531, 0.01, "Wan VAE ~127M"),
    ("wan21_t2v_1_3b", "text_encoder"): (5_680_910_336, 0.01, "UMT5-XXL encoder ~5.7B"),
    # CogVideoX-2b: T5 v1.1 XXL encoder 4.76B (the T5 v1.1 release; 9.5 GB in bf16); the DiT and
    # VAE counts are computed from the configs (the DiT's 1.69B is the "2b" of the name).
    ("cogvideox_2b", "text_encoder"): (4_762_310_656, 1e-6, "T5 v1.1 XXL encoder 4.76B"),
    ("cogvideox_2b", "transformer"): (1_693_783_872, 1e-6, "computed: CogVideoX-2b DiT"),
    ("cogvideox_2b", "vae"): (215_583_907, 1e-6, "computed: CogVideoX VAE"),
    # CogVideoX-5b, computed: the DiT's 5,570,283,072 is exactly the "trainable parameters" that
    # finetrainers' docs/models/cogvideox.md print for a full fine-tune of THUDM/CogVideoX-5b;
    # it is 11% above the "5B" of the name (a size class, as 2b's 1.69B is its "2B"). VAE and
    # T5-XXL are 2b's (the VAE's latent scale 0.7 is no parameter).
    ("cogvideox_5b", "transformer"): (5_570_283_072, 1e-6, "CogVideoX-5b DiT 5.57B"),
    ("cogvideox_5b", "vae"): (215_583_907, 1e-6, "computed: CogVideoX VAE"),
    ("cogvideox_5b", "text_encoder"): (4_762_310_656, 1e-6, "T5 v1.1 XXL encoder 4.76B"),
    # Wan 2.2: computed on the meta device from the published configs (model_configs.py). TI2V-5B's
    # DiT, 4,999,787,712, is the card's "5B" (4.9998B: within rounding, 0.004% under); its Wan 2.2
    # VAE 704,688,668 (~2.82 GB in float32, the size reported for Wan2.2_VAE.pth). Each A14B
    # expert, 14,288,491,584, is the card's "14B" within rounding (14.29B) and exactly Wan 2.1
    # T2V-14B's layout (the Diffusers repository's transformer index total_size, 57,153,966,336
    # bytes of float32 as reported elsewhere, is 4x this count). The card's "27B total" does not
    # follow from two such experts (2 x 14.29B = 28.58B; both configs are the same); the count
    # is pinned per expert, as the card's "14B active" is. UMT5-XXL and the A14B's VAE are
    # Wan 2.1's.
    ("wan22_ti2v_5b", "transformer"): (4_999_787_712, 1e-6, "computed: Wan 2.2 TI2V DiT, 5B"),
    ("wan22_ti2v_5b", "vae"): (704_688_668, 1e-6, "computed: Wan 2.2 VAE, ~705M"),
    ("wan22_ti2v_5b", "text_encoder"): (5_680_910_336, 1e-6, "UMT5-XXL encoder ~5.7B"),
    ("wan22_t2v_a14b", "transformer"): (14_288_491_584, 1e-6, "computed: A14B expert, 14B"),
    ("wan22_t2v_a14b", "transformer_2"): (14_288_491_584, 1e-6, "computed: A14B expert, 14B"),
    ("wan22_t2v_a14b", "vae"): (126_892_531, 1e-6, "Wan 2.1 VAE ~127M"),
    # LTX-Video 0.9.0, computed on the meta device: the DiT's 1,923,385,472 is the card's "2B"
    # (1.92B; within rounding) and the VAE 419,193,649 (encoder 180.4M, decoder 238.8M); together
    # 2.3426B, 9.37 GB in float32, the size reported for ltx-video-2b-v0.9.safetensors.
    ("ltx_video", "transformer"): (1_923_385_472, 1e-6, "computed: LTX-Video DiT, 2B"),
    ("ltx_video", "vae"): (419_193_649, 1e-6, "computed: LTX-Video 0.9.0 VAE"),
    ("ltx_video", "text_encoder"): (4_762_310_656, 1e-6, "T5 v1.1 XXL encoder 4.76B"),
    # Mochi 1 preview, computed: the DiT's 10,027,677,744 is the card's "10B" (10.03B). The
    # AsymmVAE's decoder is 362,526,595, the card's "362M", its encoder 97,222,016 (the
    # card counts the decoder; diffusers' AutoencoderKLMochi holds both).
    ("mochi", "transformer"): (10_027_677_744, 1e-6, "computed: Mochi DiT, 10B"),
    ("mochi", "vae"): (459_748_611, 1e-6, "computed: AsymmVAE, decoder 362.5M"),
    ("mochi", "text_encoder"): (4_762_310_656, 1e-6, "T5 v1.1 XXL encoder 4.76B"),
    # HunyuanVideo 1.5 480p t2v, computed: the DiT's 8,326,608,160 is the card's "8.3B"; its VAE
    # 1,260,634,115. The Qwen2.5-VL-7B text model, 7,070,619,136, is Qwen2.5-7B's published
    # 7.61B less its 545M output head (152064 x 3584; the pipeline reads hidden states only). The
    # ByT5 glyph encoder, 219,314,944: byt5-small's 12 encoder layers (217.1M) and a 1510-row
    # embedding (see BYT5_SMALL_GLYPH).
    ("hunyuanvideo15", "transformer"): (8_326_608_160, 1e-6, "computed: HunyuanVideo 1.5, 8.3B"),
    ("hunyuanvideo15", "vae"): (1_260_634_115, 1e-6, "computed: HunyuanVideo 1.5 VAE"),
    ("hunyuanvideo15", "text_encoder"): (7_070_619_136, 1e-6, "Qwen2.5-VL-7B text, 7.07B"),
    ("hunyuanvideo15", "text_encoder_2"): (219_314_944, 1e-6, "computed: ByT5-small glyph"),
}


def test_every_configuration_is_a_real_registry_model():
    # Models registered later get their entry in benchmarks/model_configs.py; until then the
    # benchmark names them as missing (tests/benchmarks/test_models_benchmark.py).
    for name, model in BENCH_MODELS.items():
        spec = MODELS[name]
        assert spec.pretrained and model.name == name
        roles = {c.name for s in spec.sources.values() for c in s.components} | {"unet"}
        assert set(model.denoisers) <= roles, name


@pytest.mark.parametrize(("name", "role"), sorted(EXPECTED))
def test_full_size_parameter_count(name, role):
    class_name, config = BENCH_MODELS[name].components[role]
    with torch.device("meta"):
        module = build_component(class_name, config)
    assert all(p.is_meta for p in module.parameters())  # nothing allocated
    expected, tolerance, source = EXPECTED[(name, role)]
    count = count_parameters(module)
    assert abs(count - expected) <= tolerance * expected, (name, role, count, source)


def test_every_denoiser_is_pinned():
    # Every expert too (Wan 2.2 A14B's transformer_2).
    for name, model in BENCH_MODELS.items():
        for role in model.denoisers:
            assert (name, role) in EXPECTED, (name, role)
            assert role in model.components


def test_wan22_configurations_are_the_published_layouts():
    configs = model_configs
    # TI2V-5B: dim 3072 = 24 x 128, 48 latent channels; A14B's experts: 5120 = 40 x 128, one
    # configuration for both.
    ti2v = configs.WAN22_TI2V_5B_TRANSFORMER
    assert ti2v["num_attention_heads"] * ti2v["attention_head_dim"] == 3072
    assert (ti2v["num_layers"], ti2v["ffn_dim"], ti2v["in_channels"]) == (30, 14336, 48)
    a14b = BENCH_MODELS["wan22_t2v_a14b"].components
    assert a14b["transformer"] == a14b["transformer_2"]
    expert = a14b["transformer"][1]
    assert expert["num_attention_heads"] * expert["attention_head_dim"] == 5120
    assert (expert["num_layers"], expert["ffn_dim"], expert["in_channels"]) == (40, 13824, 16)
    # The Wan 2.2 VAE's latent channels are the DiT's; 48 statistics each.
    vae = configs.WAN22_VAE
    assert vae["z_dim"] == ti2v["in_channels"] == 48
    assert len(vae["latents_mean"]) == len(vae["latents_std"]) == 48
    assert min(vae["latents_std"]) > 0


def test_tiny_counterparts_of_wan22_have_the_full_layouts():
    from freqlab.models import get_model_spec
    from freqlab.sampling import denoisers

    # TI2V: the Wan 2.2 VAE's layout (all but its widths) and per-token timesteps.
    layout = ("z_dim", "is_residual", "in_channels", "out_channels", "patch_size")
    layout += ("scale_factor_temporal", "scale_factor_spatial", "temperal_downsample")
    ti2v = BENCH_MODELS["wan22_ti2v_5b"].tiny(seed=0)
    assert all(ti2v.vae.config[k] == model_configs.WAN22_VAE[k] for k in layout)
    assert ti2v.transformer.config.in_channels == ti2v.vae.config.z_dim == 48
    assert ti2v.vae.config.decoder_base_dim > ti2v.vae.config.base_dim  # as 256 > 160
    assert (
        ti2v.config.expand_timesteps
        == get_model_spec("wan22_ti2v_5b").pipeline_kwargs["expand_timesteps"]
    )
    assert denoisers(ti2v) == [ti2v.transformer]
    # A14B: two experts, the roles the benchmark times are the ones the samplers count.
    a14b = BENCH_MODELS["wan22_t2v_a14b"]
    pipe = a14b.tiny(seed=0)
    assert [getattr(pipe, role) for role in a14b.denoisers] == denoisers(pipe)
    assert pipe.transformer is not pipe.transformer_2
    boundary = get_model_spec("wan22_t2v_a14b").pipeline_kwargs["boundary_ratio"]
    assert pipe.config.boundary_ratio == boundary


def test_ltx_mochi_hunyuanvideo15_configurations_are_the_published_layouts():
    configs = model_configs
    # LTX-Video 2B: 32 x 64 = 2048 wide, 28 layers, patch 1 over the VAE's 128 channels, T5-XXL.
    ltx = configs.LTX_2B_TRANSFORMER
    assert ltx["num_attention_heads"] * ltx["attention_head_dim"] == ltx["cross_attention_dim"]
    assert (ltx["num_layers"], ltx["patch_size"], ltx["patch_size_t"]) == (28, 1, 1)
    assert ltx["in_channels"] == configs.LTX_090_VAE["latent_channels"] == 128
    assert ltx["caption_channels"] == configs.T5_XXL["d_model"] == 4096
    # 0.9.0's VAE: 4x4 pixel patches x three 2x downsamplings = 32 spatially, 8 in time.
    vae = configs.LTX_090_VAE
    assert vae["patch_size"] * 2 ** sum(vae["spatio_temporal_scaling"]) == 32
    assert not vae["timestep_conditioning"]
    # Mochi: 24 x 128 = 3072 visual, 1536 text stream, 48 layers, 12 latent channels.
    mochi = configs.MOCHI_TRANSFORMER
    assert mochi["num_attention_heads"] * mochi["attention_head_dim"] == 3072
    assert (mochi["num_layers"], mochi["pooled_projection_dim"]) == (48, 1536)
    assert mochi["in_channels"] == configs.MOCHI_VAE["latent_channels"] == 12
    assert mochi["text_embed_dim"] == configs.T5_XXL["d_model"]
    # HunyuanVideo 1.5: 16 x 128 = 2048; noisy + condition latents + mask in, latents out; its
    # text widths are the encoders' (Qwen2.5-VL-7B 3584, ByT5 1472); RoPE axes fill a head.
    hy = configs.HUNYUAN15_480P_T2V_TRANSFORMER
    latent = configs.HUNYUAN15_VAE["latent_channels"]
    assert hy["num_attention_heads"] * hy["attention_head_dim"] == 2048
    assert (hy["num_layers"], hy["num_refiner_layers"]) == (54, 2)
    assert (hy["in_channels"], hy["out_channels"]) == (2 * latent + 1, latent) == (65, 32)
    assert hy["text_embed_dim"] == configs.QWEN25_VL_7B_TEXT["hidden_size"] == 3584
    assert hy["text_embed_2_dim"] == configs.BYT5_SMALL_GLYPH["d_model"] == 1472
    assert sum(hy["rope_axes_dim"]) == hy["attention_head_dim"]
    assert (hy["target_size"], hy["task_type"]) == (640, "t2v")
    qwen = configs.QWEN25_VL_7B_TEXT
    head_dim = qwen["hidden_size"] // qwen["num_attention_heads"]
    assert sum(qwen["rope_parameters"]["mrope_section"]) == head_dim // 2 == 64


def test_tiny_counterparts_of_the_new_dits_are_the_registry_ones():
    from freqlab.models import get_model_spec
    from freqlab.sampling import denoisers

    for name, tiny_name in (
        ("ltx_video", "tiny_ltx"),
        ("mochi", "tiny_mochi"),
        ("hunyuanvideo15", "tiny_hunyuanvideo15"),
    ):
        bench = BENCH_MODELS[name]
        assert bench.tiny is get_model_spec(tiny_name).build
        pipe = bench.tiny(seed=0)
        assert type(pipe).__name__ == get_model_spec(name).pipeline
        assert denoisers(pipe) == [pipe.transformer]
        frames = bench.tiny_size[0]
        assert (frames - 1) % get_model_spec(tiny_name).temporal_factor == 0, name
    # The full pipeline's non-model parts: the guider at the 480p t2v guidance.
    parts = {role: make() for role, make in BENCH_MODELS["hunyuanvideo15"].parts.items()}
    assert (
        parts["guider"].guidance_scale
        == get_model_spec("hunyuanvideo15").defaults["guidance_scale"]
    )
    assert set(parts) == {"tokenizer", "tokenizer_2", "guider"}


def test_cogvideox_5b_configuration_is_the_published_layout():
    configs = model_configs
    # 48 x 64 = 3072 wide, 42 layers, 3D RoPE; patches, latent sample, text and time widths as
    # 2b's; the VAE is 2b's but for the latent scale 0.7.
    five, two = configs.COGVIDEOX_5B_TRANSFORMER, configs.COGVIDEOX_2B_TRANSFORMER
    assert five["num_attention_heads"] * five["attention_head_dim"] == 3072
    assert (five["num_layers"], five["use_rotary_positional_embeddings"]) == (42, True)
    changed = {k for k in five if five[k] != two[k]}
    assert changed == {"num_attention_heads", "num_layers", "use_rotary_positional_embeddings"}
    assert five["text_embed_dim"] == configs.T5_XXL["d_model"]
    # RoPE splits a head into time / height / width axes of 1/4, 3/8, 3/8: each must be even.
    # (diffusers' get_3d_rotary_pos_embed): each must be even and together fill the head.
    head = five["attention_head_dim"]
    axes = (head // 4, head // 8 * 3, head // 8 * 3)
    assert all(d % 2 == 0 for d in axes) and sum(axes) == head == 64
    vae = {k: v for k, v in configs.COGVIDEOX_5B_VAE.items() if k != "scaling_factor"}
    assert vae == {k: v for k, v in configs.COGVIDEOX_VAE.items() if k != "scaling_factor"}
    assert configs.COGVIDEOX_5B_VAE["scaling_factor"] == 0.7
    bench = BENCH_MODELS["cogvideox_5b"].components
    assert bench["text_encoder"] == BENCH_MODELS["cogvideox_2b"].components["text_encoder"]


def test_tiny_counterpart_of_cogvideox_5b_runs_the_5b_scheduler():
    from benchmarks.models import build_tiny
    from freqlab.models import get_model_spec
    from freqlab.sampling import denoisers

    bench = BENCH_MODELS["cogvideox_5b"]
    assert bench.tiny is get_model_spec("tiny_cogvideox").build
    pipe = build_tiny("cogvideox_5b")
    assert type(pipe).__name__ == get_model_spec("cogvideox_5b").pipeline
    assert denoisers(pipe) == [pipe.transformer]
    # The registry's 5b scheduler (no SNR shift), not the tiny pipeline's own (2b's 3.0).
    assert pipe.scheduler.config.snr_shift_scale == 1.0
    assert build_tiny("cogvideox_2b").scheduler.config.snr_shift_scale == 3.0
    assert (bench.tiny_size[0] - 1) % get_model_spec("cogvideox_5b").temporal_factor == 0
