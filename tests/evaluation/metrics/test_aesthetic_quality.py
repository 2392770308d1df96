"""VBench aesthetic quality: L2-normalised embeddings through a fixed linear head, / 10, mean over
frames, against values computed by hand; VBench's clip_transform; the LAION head's file (found,
missing, wrong keys) and the CLIP ViT-L/14 registration, offline."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Lambda, Normalize, Resize

from evaluation.encoders import ENCODERS
from evaluation.metrics.aesthetic_quality import (
    LAION_HEAD_FILE,
    LAION_HEAD_URL,
    AestheticQuality,
    aesthetic_quality,
    load_aesthetic_head,
    resolve_aesthetic_head,
)
from evaluation.preprocessing import CLIP_MEAN, CLIP_STD
from freqlab.hub import WeightsNotFoundError


@pytest.fixture(autouse=True)
def vbench_cache(monkeypatch, tmp_path_factory):
    """An empty VBench cache, so that a head file on this machine is never found by accident."""
    root = tmp_path_factory.mktemp("vbench")
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(root))
    return root


class ColourEmbed(nn.Module):
    """Embedding = the frame's mean colour in dims 0-2 of 768: ``(N, 3, h, w) -> (N, 768)``."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        self.inputs.append(frames.clone())
        out = torch.zeros(len(frames), 768)
        out[:, :3] = frames.mean(dim=(2, 3))
        return out


def fixed_head() -> nn.Linear:
    """score = 10 * z_0 + 20 * z_1 + 3."""
    head = nn.Linear(768, 1)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, 0], head.weight[0, 1] = 10.0, 20.0
        head.bias.fill_(3.0)
    return head


def head_file(path, weight=None, bias=None):
    head = fixed_head()
    state = {"weight": head.weight.detach() if weight is None else weight}
    state["bias"] = head.bias.detach() if bias is None else bias
    torch.save(state, path)
    return path


def test_formula_by_hand(make_colour_video, raw):
    # (0.6, 0.8, 0) and (0.3, 0.4, 0) normalise to the same unit vector: 10*0.6 + 20*0.8 + 3 = 25
    # -> 2.5 each; (1, 0, 0): 10 + 3 = 13 -> 1.3. Video means 2.5 and (1.3 + 2.5) / 2 = 1.9.
    videos = torch.cat(
        [
            make_colour_video((0.6, 0.8, 0.0), (0.3, 0.4, 0.0)),
            make_colour_video((1.0, 0.0, 0.0), (0.6, 0.8, 0.0)),
        ]
    )
    scores = aesthetic_quality(videos, ColourEmbed(), head=fixed_head(), preprocess=raw)
    torch.testing.assert_close(scores, torch.tensor([2.5, 1.9]))
    # batching across videos does not change anything
    again = aesthetic_quality(
        videos, ColourEmbed(), head=fixed_head(), preprocess=raw, batch_size=3
    )
    torch.testing.assert_close(again, scores)


def test_default_preprocessing_is_vbench_clip_transform():
    # VBench: float 0-255 frames, Resize(224, bicubic, antialias=False), CenterCrop(224), /255,
    # CLIP mean/std; no clamp. Non-square frames: the shorter side goes to 224. Black and white
    # pixels make bicubic overshoot.
    gen = torch.Generator().manual_seed(1)
    videos = (torch.rand(1, 2, 3, 150, 260, generator=gen) > 0.5).to(torch.uint8) * 255
    embed = ColourEmbed()
    aesthetic_quality(videos, embed, head=fixed_head())
    vbench = Compose(
        [
            Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
            CenterCrop(224),
            Lambda(lambda x: x.float().div(255.0)),
            Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )
    expected = vbench(videos[0].float())
    (seen,) = embed.inputs
    assert seen.shape == (2, 3, 224, 224)
    torch.testing.assert_close(seen, expected, atol=2e-5, rtol=0)
    # bicubic overshoot is kept (no clamp), as VBench's
    assert (
        seen * torch.tensor(CLIP_STD)[:, None, None] + torch.tensor(CLIP_MEAN)[:, None, None]
    ).max() > 1


def test_class_with_head_file_and_vbench_cache(tmp_path, vbench_cache, make_colour_video, raw):
    path = head_file(tmp_path / "head.pth")
    metric = AestheticQuality(ColourEmbed(), head_weights=path, preprocess=raw)
    metric.update(make_colour_video((0.6, 0.8, 0.0), (1.0, 0.0, 0.0)))  # (2.5 + 1.3) / 2
    metric.update(make_colour_video((1.0, 0.0, 0.0), (1.0, 0.0, 0.0)))  # 1.3
    assert metric.name == "aesthetic_quality[custom:ColourEmbed+laion_v1]"
    torch.testing.assert_close(metric.per_video()[metric.name], torch.tensor([1.9, 1.3]))
    torch.testing.assert_close(metric.compute()[metric.name], torch.tensor(1.6))
    meta = metric.metadata
    assert meta["head_weights"] == f"file:{path.resolve()}" and meta["head_published"] is False
    assert len(meta["head_sha256"]) == 64 and meta["encoder"] == "custom:ColourEmbed"
    # VBench's own cache location is found without an argument
    cached = vbench_cache / "aesthetic_model" / "emb_reader" / LAION_HEAD_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    assert resolve_aesthetic_head().kind == "cache"
    # and a directory holding the file
    assert resolve_aesthetic_head(cached.parent).path == cached.resolve()


def test_injected_head_and_random_head_names(make_colour_video, raw):
    video = make_colour_video((0.6, 0.8, 0.0), (0.6, 0.8, 0.0))
    metric = AestheticQuality(ColourEmbed(), head=fixed_head(), preprocess=raw)
    metric.update(video)
    assert metric.name == "aesthetic_quality[custom:ColourEmbed+custom:Linear]"
    assert metric.compute()[metric.name].item() == pytest.approx(2.5)
    random = AestheticQuality(ColourEmbed(), head_weights="random", preprocess=raw)
    assert random.name == "aesthetic_quality[custom:ColourEmbed+laion_v1@random]"
    head, info = load_aesthetic_head("random")
    again, _ = load_aesthetic_head("random")
    torch.testing.assert_close(head.weight, again.weight)  # seeded
    assert info == {"head_weights": "random"} and head.weight.shape == (1, 768)
    with pytest.raises(ValueError, match="head_weights is only used with LAION's head"):
        AestheticQuality(ColourEmbed(), head=fixed_head(), head_weights="random")


def test_missing_head_names_file_url_command_and_argument(vbench_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        AestheticQuality(ColourEmbed())
    message = str(info.value)
    cached = vbench_cache / "aesthetic_model" / "emb_reader" / LAION_HEAD_FILE
    assert f"{cached}: not there" in message
    assert f"curl -L --create-dirs -o {cached} {LAION_HEAD_URL}" in message
    assert "head_weights='/path/to/checkpoint'" in message and "VBENCH_CACHE_DIR" in message
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        aesthetic_quality(torch.zeros(1, 2, 3, 8, 8), ColourEmbed(), head_weights="/nowhere.pth")


def test_missing_clip_weights_name_the_hub_repository(tmp_path):
    path = head_file(tmp_path / "head.pth")
    with pytest.raises(WeightsNotFoundError) as info:
        AestheticQuality(head_weights=path)
    message = str(info.value)
    assert "encoder 'clip_vitl14' (OpenAI CLIP ViT-L/14" in message
    assert (
        "hf download timm/vit_large_patch14_clip_224.openai open_clip_model.safetensors" in message
    )
    assert "weights='/path/to/checkpoint'" in message


def test_head_file_with_wrong_keys_names_the_first_mismatch(tmp_path):
    head = fixed_head()
    torch.save({"w": head.weight.detach(), "bias": head.bias.detach()}, tmp_path / "keys.pth")
    with pytest.raises(ValueError, match="missing key 'weight'"):
        load_aesthetic_head(tmp_path / "keys.pth")
    head_file(tmp_path / "shape.pth", weight=torch.zeros(1, 512))
    with pytest.raises(ValueError, match=r"'weight' has shape \(1, 512\), expected \(1, 768\)"):
        AestheticQuality(ColourEmbed(), head_weights=tmp_path / "shape.pth")
    state = {"weight": head.weight.detach(), "bias": head.bias.detach(), "extra": torch.zeros(1)}
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="unexpected key 'extra'"):
        load_aesthetic_head(tmp_path / "extra.pth")


def test_head_needs_768_d_embeddings(make_colour_video, raw, mean_colour):
    video = make_colour_video((0.6, 0.8, 0.0), (0.6, 0.8, 0.0))
    with pytest.raises(ValueError, match="takes 768-d embeddings but encoder .* gives 3-d"):
        aesthetic_quality(video, mean_colour, head=fixed_head(), preprocess=raw)


def test_clip_vitl14_is_open_clips_openai_vit_l14():
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    spec = ENCODERS["clip_vitl14"]
    cfg = get_pretrained_cfg("ViT-L-14", "openai")
    assert cfg["hf_hub"].rstrip("/") == spec.hub_id == "timm/vit_large_patch14_clip_224.openai"
    assert cfg["quick_gelu"] and spec.model_id == "ViT-L-14-quickgelu"
    assert (cfg["mean"], cfg["std"]) == (spec.mean, spec.std) == (CLIP_MEAN, CLIP_STD)
    # the architecture, without allocating it: 24 blocks of width 1024, 768-d projection
    with torch.device("meta"):
        model = open_clip.create_model(spec.model_id, pretrained=None, device="meta")
    visual = model.visual
    assert visual.output_dim == 768 and tuple(visual.image_size) == (224, 224)
    assert type(visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    # conv1 602,112 + class 1,024 + positions 263,168 + ln_pre 2,048 + 24 x 12,596,224
    # + ln_post 2,048 + proj 786,432
    assert sum(p.numel() for p in visual.parameters()) == 303_966_208
