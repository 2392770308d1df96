"""freqlab.latents: how each pipeline holds its latents (layout, packing, VAE factors)."""

from __future__ import annotations

import pytest
import torch
from diffusers import LTXPipeline

from freqlab.latents import (
    from_pipeline_layout,
    latent_layout,
    latent_packing,
    pack_latents,
    to_pipeline_layout,
    unpack_latents,
    video_factors,
)
from freqlab.models import load_model


@pytest.mark.parametrize(("patch", "patch_t"), [(1, 1), (2, 1), (2, 2)])
def test_packing_is_ltx_pipelines_own(patch, patch_t):
    # diffusers' LTXPipeline._pack_latents / _unpack_latents are the reference (bit for bit:
    # both are reshapes and permutations).
    z = torch.randn(2, 3, 4, 6, 8, generator=torch.Generator().manual_seed(0))
    tokens = pack_latents(z, patch, patch_t)
    assert torch.equal(tokens, LTXPipeline._pack_latents(z, patch, patch_t))
    assert tokens.shape == (2, (4 // patch_t) * (6 // patch) * (8 // patch), 3 * patch_t * patch**2)
    back = unpack_latents(tokens, tuple(z.shape), patch, patch_t)
    assert torch.equal(back, z)
    reference = LTXPipeline._unpack_latents(
        tokens, 4 // patch_t, 6 // patch, 8 // patch, patch, patch_t
    )
    assert torch.equal(back, reference)
    with pytest.raises(ValueError, match=r"packed latents must be"):
        unpack_latents(tokens[:, :-1], tuple(z.shape), patch, patch_t)


def test_tokens_are_ordered_frame_row_column():
    # Token k of a patch-1 packing is latent position (t, y, x) in row-major order: the frame
    # axis the 3D FFT needs is recoverable only with the shape, never from the tokens alone.
    z = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(1, 2, 3, 2, 2)
    tokens = pack_latents(z, 1, 1)
    assert torch.equal(tokens[0, 4], z[0, :, 1, 0, 0])  # (t=1, y=0, x=0)
    assert torch.equal(tokens[0, 7], z[0, :, 1, 1, 1])


@pytest.mark.parametrize(
    ("name", "layout", "packing", "factors"),
    [
        ("tiny_animatediff", "BCTHW", None, None),  # a frame-by-frame VAE
        ("tiny_wan", "BCTHW", None, (4, 8)),
        ("tiny_cogvideox", "BTCHW", None, (4, 4)),
        ("tiny_ltx", "BCTHW", (1, 1), (8, 8)),
        ("tiny_mochi", "BCTHW", None, (6, 8)),
        ("tiny_hunyuanvideo15", "BCTHW", None, (4, 4)),
    ],
)
def test_each_pipeline_says_how_it_holds_latents(name, layout, packing, factors):
    pipe = load_model(name)
    assert latent_layout(pipe) == layout
    assert latent_packing(pipe) == packing
    assert video_factors(pipe) == factors


def test_layouts_convert_both_ways():
    z = torch.randn(1, 16, 3, 8, 8)
    assert to_pipeline_layout(tuple(z.shape), "BTCHW") == (1, 3, 16, 8, 8)
    assert torch.equal(from_pipeline_layout(to_pipeline_layout(z, "BTCHW"), "BTCHW"), z)
    with pytest.raises(ValueError, match="permutation"):
        to_pipeline_layout(z, "BCTH")
