"""CLIP score: hand-computed values, the CLIPSIM reference, prompts, and open_clip offline."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evaluation.encoders import EncoderSpec, load_encoder, register_encoder
from evaluation.metrics import VideoCLIPScore, background_consistency, clip_score
from evaluation.preprocessing import CLIP_MEAN, CLIP_SCORE, CLIP_STD
from freqlab.hub import WeightsNotFoundError

TINY_CLIP = register_encoder(
    EncoderSpec(
        name="test_clip_tiny",
        library="open_clip",
        model_id="ViT-B-32",
        hub_id="test-org/clip-tiny",
        hub_filenames=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
        mean=CLIP_MEAN,
        std=CLIP_STD,
        description="1-layer CLIP (tests)",
        model_kwargs={
            "embed_dim": 32,
            "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                         "layers": 1},
        },
    ),
    overwrite=True,
)  # fmt: skip


class LookupText(nn.Module):
    """Text features from a table: ``list[str] -> (B, 3)``."""

    TABLE = {"red": (1.0, 0.0, 0.0), "yellow": (1.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}

    def forward(self, prompts):
        return torch.tensor([self.TABLE[p] for p in prompts])


def test_hand_computed(make_colour_video, mean_colour, raw):
    """Frames red, green. 'red': (100 + 0) / 2; 'yellow': (100/sqrt2 + 100/sqrt2) / 2;
    'blue': 0."""
    video = make_colour_video((1, 0, 0), (0, 1, 0)).expand(3, -1, -1, -1, -1)
    scores = clip_score(
        video, ["red", "yellow", "blue"], mean_colour, text_encoder=LookupText(), preprocess=raw
    )
    torch.testing.assert_close(
        scores, torch.tensor([50.0, 100 / math.sqrt(2), 0.0]), atol=1e-4, rtol=0
    )


def test_matches_clipsim_reference(tiny_conv, make_videos):
    """Per frame 100 * cos(image, text), averaged over frames, one frame at a time."""
    text = nn.Linear(4, 16)
    torch.manual_seed(0)
    prompts = ["a", "b", "c"]

    def text_encoder(ps):
        return text(torch.stack([torch.eye(4)[ord(p) - ord("a")] for p in ps]))

    videos = make_videos(3, 4, h=48, w=64)
    expected = []
    with torch.no_grad():
        for video, prompt in zip(videos, prompts, strict=True):
            t = F.normalize(text_encoder([prompt]), dim=-1)
            frames = [F.normalize(tiny_conv(CLIP_SCORE(f[None].float() / 255)), dim=-1)
                      for f in video]  # fmt: skip
            expected.append(sum(100 * F.cosine_similarity(f, t).item() for f in frames) / 4)
    scores = clip_score(videos, prompts, tiny_conv, text_encoder=text_encoder, batch_size=5)
    torch.testing.assert_close(scores, torch.tensor(expected), atol=1e-4, rtol=0)
    # uint8 and float agree; batch composition does not matter
    as_float = clip_score(videos.float() / 255, prompts, tiny_conv, text_encoder=text_encoder)
    torch.testing.assert_close(as_float, scores, atol=1e-4, rtol=0)
    alone = clip_score(videos[1:2], prompts[1:2], tiny_conv, text_encoder=text_encoder)
    torch.testing.assert_close(alone, scores[1:2], atol=1e-4, rtol=0)


def test_injected_encoder_needs_a_text_encoder(tiny_conv, make_videos):
    with pytest.raises(ValueError, match="pass text_encoder="):
        clip_score(make_videos(1, 2), ["x"], tiny_conv)
    with pytest.raises(ValueError, match="text_encoder is only for injected image encoders"):
        clip_score(make_videos(1, 2), ["x"], "pixel", text_encoder=LookupText())
    with pytest.raises(ValueError, match="share one embedding space"):
        clip_score(make_videos(1, 2), ["red"], tiny_conv, text_encoder=LookupText())


def test_pixel_mode_runs_without_weights(make_videos):
    videos = make_videos(2, 3)
    metric = VideoCLIPScore("pixel")
    metric.update(videos, ["a cat", "a dog"])
    result = metric.compute()
    assert set(result) == {"clip_score[pixel]"}
    again = clip_score(videos, ["a cat", "a dog"], "pixel")
    torch.testing.assert_close(metric.per_video()["clip_score[pixel]"], again)
    assert metric.metadata["encoder_weights"] == "none"


def test_frozen_video_scores_like_its_frame(make_videos):
    frame = make_videos(1, 1)
    frozen = frame.expand(-1, 5, -1, -1, -1)
    one = clip_score(frame.expand(-1, 2, -1, -1, -1), ["p"], "pixel")
    torch.testing.assert_close(clip_score(frozen, ["p"], "pixel"), one)


def test_missing_clip_weights_raise_with_instructions():
    with pytest.raises(WeightsNotFoundError) as info:
        VideoCLIPScore()
    message = str(info.value)
    assert "encoder 'clip_vitb32'" in message
    assert (
        "hf download timm/vit_base_patch32_clip_224.openai open_clip_model.safetensors" in message
    )
    assert "weights='/path/to/checkpoint'" in message and 'encoder="pixel"' in message


def test_open_clip_offline_tokenizer_and_local_file(tmp_path, make_videos):
    """A tiny open_clip model: bundled BPE tokenizer offline, random init, then the same
    weights from a local safetensors file."""
    from safetensors.torch import save_file

    random_clip = load_encoder("test_clip_tiny", weights="random")
    assert random_clip.name == "test_clip_tiny@random"
    assert random_clip.text is not None
    with torch.inference_mode():
        tokens_out = random_clip.text(["a photo of a cat", "a dog"])
    assert tokens_out.shape == (2, 32)

    path = tmp_path / "open_clip_model.safetensors"
    state = {k: v.contiguous() for k, v in random_clip.module.model.state_dict().items()}
    save_file(state, str(path))
    videos, prompts = make_videos(2, 3, h=40, w=48), ["a cat", "a dog"]
    expected = clip_score(videos, prompts, "test_clip_tiny", weights="random")
    loaded = clip_score(videos, prompts, "test_clip_tiny", weights=path)
    torch.testing.assert_close(loaded, expected, atol=1e-5, rtol=0)
    metric = VideoCLIPScore("test_clip_tiny", weights=tmp_path)  # a directory holding the file
    metric.update(videos, prompts)
    assert metric.name == "clip_score[test_clip_tiny]"
    assert metric.metadata["encoder_weights"] == f"file:{path.resolve()}"
    # background consistency on the same encoder (image side only)
    assert background_consistency(videos, "test_clip_tiny", weights=path).shape == (2,)


def test_long_prompts_warn_about_truncation(make_videos):
    encoder = load_encoder("test_clip_tiny", weights="random")
    with pytest.warns(UserWarning, match="truncated"):
        clip_score(make_videos(1, 2), [" ".join(["word"] * 100)], encoder)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script / save deprecation
def test_torchscript_clip_checkpoint_is_refused(tmp_path):
    scripted = tmp_path / "ViT-B-32.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(scripted))
    with pytest.raises(ValueError, match="TorchScript archive.*open_clip_model.safetensors"):
        load_encoder("test_clip_tiny", weights=scripted)
