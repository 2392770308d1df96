"""FreeU hooks: parity with diffusers' enable_freeu, exact restoration, stage mapping, v2, errors."""

from __future__ import annotations

import copy
import functools
import math
from types import SimpleNamespace

import pytest
import torch
from diffusers import UNet2DConditionModel

from freqlab.freeu import FreeU, FreeUHandle
from freqlab.models import load_model
from freqlab.models.tiny import UNET2D_CONFIG

FACTORS = dict(b1=1.5, b2=1.6, s1=0.9, s2=0.2)
UNET_KINDS = ("unet2d", "motion", "unet3d")
PIPE_KWARGS = dict(num_frames=8, height=32, width=32, num_inference_steps=3, output_type="latent")

# Tiny UNets (block_out_channels (32, 64), 2 resnets per up block): (up block, resnet) -> stage.
TINY_DIFFUSERS = {(0, 0): 1, (0, 1): 1, (1, 0): 2, (1, 1): 2}
TINY_OFFICIAL = {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 2}


# --------------------------------------------------------------------------- helpers


@functools.cache
def _seeded_unet(kind: str) -> torch.nn.Module:
    if kind == "unet2d":
        torch.manual_seed(2)
        return UNet2DConditionModel(**UNET2D_CONFIG)
    return load_model("tiny_animatediff" if kind == "motion" else "tiny_modelscope").unet


def make_unet(kind: str) -> tuple[torch.nn.Module, dict]:
    """A fresh copy of a seeded tiny UNet in eval mode, and fixed inputs for a direct call."""
    unet = copy.deepcopy(_seeded_unet(kind))  # cheaper than rebuilding a pipeline per test
    gen = torch.Generator().manual_seed(1)
    if kind == "unet2d":
        sample = torch.randn(2, 4, 16, 16, generator=gen)  # images (B, C, H, W)
        batch = 2
    else:
        sample = torch.randn(1, 4, 4, 8, 8, generator=gen)  # video (B, C, F, H, W)
        # UNetMotionModel takes the text embeddings already repeated per frame (the pipeline does
        # it); UNet3DConditionModel repeats them itself.
        batch = 4 if kind == "motion" else 1
    inputs = dict(
        sample=sample,
        timestep=torch.tensor(500),
        encoder_hidden_states=torch.randn(batch, 7, 32, generator=gen),
    )
    return unet.eval(), inputs


@torch.no_grad()
def forward(unet: torch.nn.Module, inputs: dict) -> torch.Tensor:
    return unet(**inputs).sample


def hook_counts(model: torch.nn.Module) -> int:
    """Forward (pre-)hooks and backward hooks on any submodule."""
    return sum(
        len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def snapshot(model: torch.nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "attrs": [(name, sorted(vars(m))) for name, m in model.named_modules()],
        "freeu_attrs": [
            {k: getattr(b, k, None) for k in ("b1", "b2", "s1", "s2")} for b in model.up_blocks
        ],
    }


def assert_restored(model: torch.nn.Module, before: dict) -> None:
    assert hook_counts(model) == 0
    for m in model.modules():  # the with_kwargs bookkeeping is cleared too
        assert not m._forward_pre_hooks_with_kwargs and not m._forward_hooks_with_kwargs
    after = snapshot(model)
    assert after["attrs"] == before["attrs"]
    assert after["freeu_attrs"] == before["freeu_attrs"]
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k


def stage_map(freeu: FreeU, unet: object) -> dict[tuple[int, int], int]:
    return {(t.up_block, t.resnet): t.stage for t in freeu.targets(unet)}


def ref_fourier_filter(x: torch.Tensor, threshold: int, scale: float) -> torch.Tensor:
    """The official FreeU Fourier_filter (demo version), written out independently."""
    x_freq = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    B, C, H, W = x_freq.shape
    mask = torch.ones((B, C, H, W))
    crow, ccol = H // 2, W // 2
    mask[..., crow - threshold : crow + threshold, ccol - threshold : ccol + threshold] = scale
    x_freq = torch.fft.ifftshift(x_freq * mask, dim=(-2, -1))
    return torch.fft.ifftn(x_freq, dim=(-2, -1)).real.to(x.dtype)


def ref_backbone_v1(h: torch.Tensor, b: float) -> torch.Tensor:
    h = h.clone()
    h[:, : h.shape[1] // 2] *= b
    return h


def ref_backbone_v2(h: torch.Tensor, b: float) -> torch.Tensor:
    """The v2 snippet of the official README (ChenyangSi/FreeU, LDM), paper Eq. 2-4."""
    hidden_mean = h.mean(1).unsqueeze(1)
    B = hidden_mean.shape[0]
    hidden_max, _ = torch.max(hidden_mean.view(B, -1), dim=-1, keepdim=True)
    hidden_min, _ = torch.min(hidden_mean.view(B, -1), dim=-1, keepdim=True)
    hidden_mean = (hidden_mean - hidden_min.unsqueeze(2).unsqueeze(3)) / (
        hidden_max - hidden_min
    ).unsqueeze(2).unsqueeze(3)
    h = h.clone()
    half = h.shape[1] // 2
    h[:, :half] = h[:, :half] * ((b - 1) * hidden_mean + 1)
    return h


class ResnetRecorder:
    """Records every up-block resnet's input around FreeU's hook, and the popped skip channels.

    Hooks registered *before* FreeU.apply see the plain concatenation, those registered *after* see
    FreeU's result (PyTorch runs pre-hooks in registration order). The skip channel count comes from
    the up block's own ``res_hidden_states_tuple`` (popped from the end), independently of freqlab.
    """

    def __init__(self, unet: torch.nn.Module) -> None:
        self.unet = unet
        self.before: dict[tuple[int, int], torch.Tensor] = {}
        self.after: dict[tuple[int, int], torch.Tensor] = {}
        self.skip: dict[tuple[int, int], int] = {}
        self.handles = []
        for i, block in enumerate(unet.up_blocks):
            self.handles.append(block.register_forward_pre_hook(self._block(i), with_kwargs=True))
        self._register(self.before)

    def _block(self, i: int):
        def hook(module, args, kwargs):
            skips = kwargs["res_hidden_states_tuple"]
            for j in range(len(module.resnets)):
                self.skip[(i, j)] = skips[-1 - j].shape[1]

        return hook

    def _register(self, store: dict) -> None:
        for i, block in enumerate(self.unet.up_blocks):
            for j, resnet in enumerate(block.resnets):

                def hook(module, args, kwargs, key=(i, j)):
                    store[key] = (args[0] if args else kwargs["input_tensor"]).clone()

                self.handles.append(resnet.register_forward_pre_hook(hook, with_kwargs=True))

    def register_after(self) -> None:
        self._register(self.after)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


# --------------------------------------------------------------------------- parity with diffusers


@pytest.mark.parametrize("pipe_name", ["tiny_animatediff", "tiny_modelscope"])
def test_pipeline_parity_with_diffusers(pipe_name, request):
    pipe = request.getfixturevalue(pipe_name)

    def run():
        gen = torch.Generator().manual_seed(0)
        return pipe("a cat walking", generator=gen, **PIPE_KWARGS).frames

    base = run()
    with FreeU(**FACTORS).apply(pipe.unet):
        ours = run()
    pipe.enable_freeu(**FACTORS)
    try:
        reference = run()
    finally:
        pipe.disable_freeu()

    assert ours.shape == (1, 4, 8, 8, 8)  # latents (B, C, F, h, w)
    assert (ours - reference).abs().max().item() <= 1e-5  # observed: 0.0 (bit-identical)
    assert (ours - base).abs().max().item() > 1e-2
    # Exact restoration is checked on direct UNet calls below (cheaper than another pipeline run).
    assert hook_counts(pipe.unet) == 0


@pytest.mark.parametrize("kind", UNET_KINDS)
@pytest.mark.parametrize(
    "factors",
    [FACTORS, dict(b1=1.2, b2=1.4, s1=0.6, s2=0.4), dict(b1=0.7, b2=2.0, s1=1.3, s2=1.5)],
)
def test_unet_parity_with_diffusers(kind, factors):
    unet, inputs = make_unet(kind)
    with FreeU(**factors).apply(unet):
        ours = forward(unet, inputs)
    unet.enable_freeu(**factors)
    reference = forward(unet, inputs)
    unet.disable_freeu()
    assert (ours - reference).abs().max().item() <= 1e-5


def test_unet_parity_bfloat16_and_gradient_checkpointing():
    unet, inputs = make_unet("unet2d")
    half = unet.to(torch.bfloat16)
    half_inputs = {
        k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in inputs.items()
    }
    with FreeU(**FACTORS).apply(half):
        ours = forward(half, half_inputs)
    half.enable_freeu(**FACTORS)
    reference = forward(half, half_inputs)
    half.disable_freeu()
    assert torch.equal(ours, reference)  # observed bit-identical

    # Checkpointed resnets are called positionally (by keyword otherwise, in the motion blocks) and
    # re-run in backward: the hook still applies, and gradients match.
    unet, inputs = make_unet("motion")
    unet.train().enable_gradient_checkpointing()
    results = []
    for use_ours in (True, False):
        unet.zero_grad()
        if use_ours:
            with FreeU(**FACTORS).apply(unet):
                out = unet(**inputs).sample
                out.square().mean().backward()
        else:
            unet.enable_freeu(**FACTORS)
            out = unet(**inputs).sample
            out.square().mean().backward()
            unet.disable_freeu()
        results.append((out.detach(), unet.conv_in.weight.grad.clone()))
    torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- restoration


@pytest.mark.parametrize("kind", UNET_KINDS)
def test_changes_output_and_restores_exactly(kind):
    unet, inputs = make_unet(kind)
    base = forward(unet, inputs)
    before = snapshot(unet)
    with FreeU(**FACTORS).apply(unet) as handle:
        assert isinstance(handle, FreeUHandle) and handle.active
        assert hook_counts(unet) == 4
        changed = forward(unet, inputs)
    assert not handle.active
    assert (changed - base).abs().max().item() > 1e-2
    assert torch.equal(forward(unet, inputs), base)
    assert_restored(unet, before)


def test_remove_restores_exactly_without_a_with_block():
    # the notebook form: handle = FreeU(...).apply(unet) ... handle.remove()
    unet, inputs = make_unet("motion")
    base = forward(unet, inputs)
    before = snapshot(unet)
    handle = FreeU(**FACTORS, variant="v2").apply(unet)
    assert handle.active and hook_counts(unet) == 4
    assert (forward(unet, inputs) - base).abs().max().item() > 1e-2
    handle.remove()
    assert not handle.active and hook_counts(unet) == 0
    assert torch.equal(forward(unet, inputs), base)
    assert_restored(unet, before)


def test_restores_after_exception_inside_with():
    unet, inputs = make_unet("unet2d")
    base = forward(unet, inputs)
    before = snapshot(unet)
    with pytest.raises(RuntimeError, match="boom"):
        with FreeU(**FACTORS, variant="v2", stages="official").apply(unet):
            forward(unet, inputs)
            raise RuntimeError("boom")
    assert torch.equal(forward(unet, inputs), base)
    assert_restored(unet, before)


def test_handle_remove_is_idempotent_and_accepts_pipeline(tiny_modelscope):
    unet = tiny_modelscope.unet
    freeu = FreeU(**FACTORS)
    handle = freeu.apply(tiny_modelscope)  # a pipeline: its .unet gets the hooks
    assert handle.unet is unet and handle.active and hook_counts(unet) == 4
    assert [(t.up_block, t.resnet) for t in handle.targets] == list(TINY_DIFFUSERS)
    handle.remove()
    handle.remove()
    assert not handle.active and hook_counts(unet) == 0
    with handle:  # entering a removed handle is harmless
        pass
    # Can be applied again once removed, and a stale handle's remove() leaves the new one alone.
    with freeu.apply(unet) as second:
        handle.remove()
        assert second.active and hook_counts(unet) == 4
        with pytest.raises(ValueError, match="already has FreeU"):
            freeu.apply(unet)
    assert hook_counts(unet) == 0


@pytest.mark.parametrize("kind", UNET_KINDS)
@pytest.mark.parametrize("variant", ["v1", "v2"])
@pytest.mark.parametrize("stages", ["diffusers", "official"])
def test_unit_factors_are_identity(kind, variant, stages):
    unet, inputs = make_unet(kind)
    base = forward(unet, inputs)
    with FreeU(1.0, 1.0, 1.0, 1.0, variant=variant, stages=stages).apply(unet):
        out = forward(unet, inputs)
    torch.testing.assert_close(out, base, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- stage mapping


@pytest.mark.parametrize("kind", UNET_KINDS)
def test_stage_mapping_tiny(kind):
    unet, _ = make_unet(kind)
    assert stage_map(FreeU(**FACTORS), unet) == TINY_DIFFUSERS
    assert stage_map(FreeU(**FACTORS, stages="official"), unet) == TINY_OFFICIAL
    targets = FreeU(**FACTORS, stages="official").targets(unet)
    assert [(t.b, t.s) for t in targets] == [(1.5, 0.9)] * 3 + [(1.6, 0.2)]
    assert [t.backbone_channels for t in targets] == [64, 64, 64, 32]


def sd_like_unet() -> UNet2DConditionModel:
    """SD-1.x's layout (4 levels, 3 resnets per up block) with tiny widths (32, 64, 128, 128)."""
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 128, 128),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    ).eval()


def test_stage_mapping_sd_like_matches_the_official_rule():
    unet = sd_like_unet()
    official = stage_map(FreeU(**FACTORS, stages="official"), unet)
    # The official rule by channel count (demo/free_lunch_utils.py): 1280 -> 128, 640 -> 64.
    expected = {(0, j): 1 for j in range(3)} | {(1, j): 1 for j in range(3)}
    expected |= {(2, 0): 1, (2, 1): 2, (2, 2): 2, (3, 0): 2}
    assert official == expected
    diffusers = stage_map(FreeU(**FACTORS), unet)
    assert diffusers == {(0, j): 1 for j in range(3)} | {(1, j): 2 for j in range(3)}

    # The static channel split agrees with the tensors the blocks actually receive.
    recorder = ResnetRecorder(unet)
    try:
        forward(
            unet,
            dict(
                sample=torch.randn(1, 4, 16, 16),
                timestep=torch.tensor(10),
                encoder_hidden_states=torch.randn(1, 7, 32),
            ),
        )
    finally:
        recorder.remove()
    points = {
        (t.up_block, t.resnet): (t.backbone_channels, t.skip_channels)
        for t in FreeU(**FACTORS).targets(unet, include_untouched=True)
    }
    assert len(points) == 12
    for key, x in recorder.before.items():
        skip = recorder.skip[key]
        assert points[key] == (x.shape[1] - skip, skip), key
    text = FreeU(**FACTORS, stages="official").describe(unet)
    assert len(text.splitlines()) == 2 + 12 and "CrossAttnUpBlock2D" in text


@pytest.mark.parametrize("kind", UNET_KINDS)
def test_official_stages_match_reference_at_every_concat_point(kind):
    unet, inputs = make_unet(kind)
    widths = sorted(set(unet.config.block_out_channels), reverse=True)  # 1280- and 640-roles
    recorder = ResnetRecorder(unet)
    try:
        with FreeU(**FACTORS, stages="official").apply(unet):
            recorder.register_after()
            forward(unet, inputs)
    finally:
        recorder.remove()
    assert len(recorder.after) == 4
    stages = {}  # the official rule, applied here to the channel counts actually seen
    for key, x in recorder.before.items():
        c_h = x.shape[1] - recorder.skip[key]
        h, hs = x[:, :c_h], x[:, c_h:]
        if c_h == widths[0]:
            stages[key], b, s = 1, FACTORS["b1"], FACTORS["s1"]
        elif c_h == widths[1]:
            stages[key], b, s = 2, FACTORS["b2"], FACTORS["s2"]
        else:
            torch.testing.assert_close(recorder.after[key], x, atol=0, rtol=0)
            continue
        expected = torch.cat([ref_backbone_v1(h, b), ref_fourier_filter(hs, 1, s)], dim=1)
        torch.testing.assert_close(recorder.after[key], expected, atol=1e-6, rtol=1e-6)
    assert stages == TINY_OFFICIAL


# --------------------------------------------------------------------------- v2 and zero factors


@pytest.mark.parametrize("kind", ["unet2d", "motion"])
def test_v2_matches_reference_formula_and_differs_from_v1(kind):
    unet, inputs = make_unet(kind)
    with FreeU(**FACTORS).apply(unet):
        v1 = forward(unet, inputs)
    recorder = ResnetRecorder(unet)
    try:
        with FreeU(**FACTORS, variant="v2").apply(unet):
            recorder.register_after()
            v2 = forward(unet, inputs)
    finally:
        recorder.remove()
    assert (v2 - v1).abs().max().item() > 1e-3

    key = (1, 0)  # stage 2 (b2, s2) under "diffusers"; h is (N, 64, H, W), frames folded into N
    x = recorder.before[key]
    c_h = x.shape[1] - recorder.skip[key]
    h, hs = x[:, :c_h], x[:, c_h:]
    expected = torch.cat(
        [ref_backbone_v2(h, FACTORS["b2"]), ref_fourier_filter(hs, 1, FACTORS["s2"])], dim=1
    )
    torch.testing.assert_close(recorder.after[key], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("zero", ["b1", "b2", "s1", "s2"])
def test_zero_factor_is_honoured_unlike_diffusers(zero):
    unet, inputs = make_unet("unet2d")
    factors = {**FACTORS, zero: 0.0}
    base = forward(unet, inputs)
    unet.enable_freeu(**factors)
    diffusers_out = forward(unet, inputs)
    unet.disable_freeu()
    with FreeU(**factors).apply(unet):
        ours = forward(unet, inputs)
    with FreeU(**FACTORS).apply(unet):
        nonzero = forward(unet, inputs)
    assert torch.equal(diffusers_out, base)  # diffusers' truthiness check switches FreeU off
    assert (ours - base).abs().max().item() > 1e-2
    assert (ours - nonzero).abs().max().item() > 1e-3


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["b1", "b2", "s1", "s2"])
@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, "1.2", None, True, torch.tensor(1.0)]
)
def test_bad_factor_raises(name, bad):
    with pytest.raises(ValueError, match=name):
        FreeU(**{**FACTORS, name: bad})


def test_factor_types_accepted():
    freeu = FreeU(1, 2, 0, 1)  # ints become floats
    assert (freeu.b1, freeu.b2, freeu.s1, freeu.s2) == (1.0, 2.0, 0.0, 1.0)
    assert all(type(v) is float for v in (freeu.b1, freeu.b2, freeu.s1, freeu.s2))


def test_bad_variant_and_stages_raise():
    with pytest.raises(ValueError, match="variant"):
        FreeU(**FACTORS, variant="v3")
    with pytest.raises(ValueError, match="stages"):
        FreeU(**FACTORS, stages="paper")


@pytest.mark.parametrize(
    "bad",
    [torch.nn.Linear(2, 2), SimpleNamespace(unet=torch.nn.Linear(2, 2)), SimpleNamespace(), None],
)
def test_unsupported_module_raises(bad):
    freeu = FreeU(**FACTORS)
    for call in (freeu.apply, freeu.targets, freeu.describe):
        with pytest.raises(ValueError, match="unet"):
            call(bad)


def test_unsupported_up_block_raises():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "ResnetUpsampleBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    with pytest.raises(ValueError, match=r"unet\.up_blocks\[1\].*ResnetUpsampleBlock2D"):
        FreeU(**FACTORS).apply(unet)
    assert hook_counts(unet) == 0


def test_refuses_to_stack_on_active_freeu():
    unet, _ = make_unet("unet2d")
    with FreeU(**FACTORS).apply(unet):
        with pytest.raises(ValueError, match="already has FreeU"):
            FreeU(**FACTORS).apply(unet)
        assert hook_counts(unet) == 4
    unet.enable_freeu(**FACTORS)
    with pytest.raises(ValueError, match="disable_freeu"):
        FreeU(**FACTORS).apply(unet)
    unet.disable_freeu()
    assert hook_counts(unet) == 0


@pytest.mark.parametrize("name", ["b1", "b2", "s1", "s2"])
@pytest.mark.parametrize("value", [-1, -1e-3, float("nan"), float("inf"), True, "1.2"])
def test_factors_must_be_finite_and_non_negative(name, value):
    factors = dict(b1=1.2, b2=1.4, s1=0.9, s2=0.2)
    with pytest.raises(ValueError, match=f"{name} must be a finite real number >= 0"):
        FreeU(**{**factors, name: value})
    # 0 and factors outside the papers' range (ablations) are accepted
    assert FreeU(**{**factors, name: 0.0}).__getattribute__(name) == 0.0
    assert FreeU(**{**factors, name: 2}).__getattribute__(name) == 2.0
