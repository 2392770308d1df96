"""Consistency metrics: hand-computed values, reference loops (FreeInit's words, VBench's code),
VBench's frame-weighted pooling, invariances, and the torchmetrics classes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from evaluation.metrics import (
    BackgroundConsistency,
    DINOConsistency,
    Motion,
    SubjectConsistency,
    background_consistency,
    dino_consistency,
    frame_weighted_mean,
    subject_consistency,
)
from evaluation.preprocessing import VBENCH_DINO
from freqlab.hub import WeightsNotFoundError

FUNCTIONS = {
    "dino": (dino_consistency, 100.0),
    "subject": (subject_consistency, 1.0),
    "background": (background_consistency, 1.0),
}


# --------------------------------------------------------------------------- references


def freeinit_reference(videos, encoder, preprocess):
    """FreeInit Sec. 4.1 in words: per video, DINO features of each frame, average cosine of the
    normalised first-frame feature with each of the N-1 following ones, x100. One frame at a
    time."""
    scores = []
    for video in videos:
        frames = video.float() / 255 if video.dtype == torch.uint8 else video
        feats = [F.normalize(encoder(preprocess(f[None])), dim=-1) for f in frames]
        sims = [F.cosine_similarity(feats[0], f).item() for f in feats[1:]]
        scores.append(100 * sum(sims) / len(sims))
    return torch.tensor(scores)


def vbench_reference(videos, encoder, preprocess):
    """A port of VBench's subject_consistency loop: float 0-255 video through the transform,
    one frame at a time, .item() and max(0.0, ...). Returns (overall, per-video)."""
    sim, cnt, per_video = 0.0, 0, []
    for video in videos:
        images = preprocess(video.float() / 255)
        video_sim, first, former = 0.0, None, None
        for i in range(len(images)):
            with torch.no_grad():
                features = F.normalize(encoder(images[i].unsqueeze(0)), dim=-1, p=2)
            if i == 0:
                first = features
            else:
                sim_pre = max(0.0, F.cosine_similarity(former, features).item())
                sim_fir = max(0.0, F.cosine_similarity(first, features).item())
                video_sim += (sim_pre + sim_fir) / 2
                cnt += 1
            former = features
        per_video.append(video_sim / (len(images) - 1))
        sim += video_sim
    return sim / cnt, torch.tensor(per_video)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
@pytest.mark.parametrize("encoder", ["pixel", "conv"])
def test_identical_frames_are_perfectly_consistent(metric, encoder, tiny_conv, make_videos):
    fn, perfect = FUNCTIONS[metric]
    frozen = make_videos(3, 1, seed=5).expand(-1, 6, -1, -1, -1)
    scores = fn(frozen, tiny_conv if encoder == "conv" else encoder)
    assert scores.shape == (3,)
    torch.testing.assert_close(scores, torch.full((3,), perfect), atol=1e-4 * perfect, rtol=0)


def test_identical_frames_with_the_real_dino_architecture(make_videos):
    """The registered ViT-S/16 with random weights (no weights on this machine)."""
    frozen = make_videos(1, 1, h=48, w=64).expand(-1, 3, -1, -1, -1)
    metric = DINOConsistency(weights="random")
    metric.update(frozen)
    result = metric.compute()
    assert metric.name == "dino_consistency[dino_vits16@random]"
    assert result[metric.name].item() == pytest.approx(100.0, abs=1e-3)
    assert result[f"{metric.name}/motion"].item() == 0.0
    assert metric.metadata["encoder_model"] == "timm:vit_small_patch16_224.dino"
    assert metric.metadata["encoder_weights"] == "random"


def test_hand_computed_colours(make_colour_video, mean_colour, raw):
    """Features = frame colours: red, green, yellow/2."""
    video = make_colour_video((1, 0, 0), (0, 1, 0), (0.5, 0.5, 0))
    half = 1 / math.sqrt(2)
    # FreeInit: 100 * mean(cos(red, green), cos(red, yellow)) = 100 * (0 + 1/sqrt2) / 2
    dino = dino_consistency(video, mean_colour, preprocess=raw)
    assert dino.item() == pytest.approx(100 * half / 2, abs=1e-4)
    # VBench: s_1 = (cos(red, green) + cos(red, green)) / 2 = 0,
    #         s_2 = (cos(green, yellow) + cos(red, yellow)) / 2 = 1/sqrt2
    subject = subject_consistency(video, mean_colour, preprocess=raw)
    assert subject.item() == pytest.approx(half / 2, abs=1e-6)


def test_hand_computed_negative_similarities(make_colour_video, mean_colour, raw):
    """Centred colours: red -> (.5, -.5, -.5), cyan -> (-.5, .5, .5): cosine -1.

    FreeInit keeps negative cosines, VBench clips them at 0."""
    centred = raw.with_normalization((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    video = make_colour_video((1, 0, 0), (0, 1, 1), (1, 0, 0))
    dino = dino_consistency(video, mean_colour, preprocess=centred)
    assert dino.item() == pytest.approx(100 * (-1 + 1) / 2, abs=1e-4)
    # s_1 = (max(-1, 0) + max(-1, 0)) / 2 = 0; s_2 = (max(-1, 0) + max(1, 0)) / 2 = 0.5
    subject = subject_consistency(video, mean_colour, preprocess=centred)
    assert subject.item() == pytest.approx(0.25, abs=1e-6)
    first_two = dino_consistency(video[:, :2], mean_colour, preprocess=centred)
    assert first_two.item() == pytest.approx(-100.0, abs=1e-4)


def test_matches_freeinit_reference(tiny_conv, make_videos):
    videos = make_videos(3, 5, h=40, w=56)
    from evaluation.preprocessing import FREEINIT_DINO

    expected = freeinit_reference(videos, tiny_conv, FREEINIT_DINO)
    torch.testing.assert_close(dino_consistency(videos, tiny_conv), expected, atol=1e-4, rtol=0)


def test_matches_vbench_reference_per_video_and_pooled(tiny_conv, make_videos):
    """Non-square videos, no crop (VBench's DINO transform), videos of different lengths."""
    short, long = make_videos(2, 3, h=40, w=56, seed=1), make_videos(1, 9, h=40, w=56, seed=2)
    overall_ref, short_ref = vbench_reference(short, tiny_conv, VBENCH_DINO)
    _, long_ref = vbench_reference(long, tiny_conv, VBENCH_DINO)
    torch.testing.assert_close(subject_consistency(short, tiny_conv), short_ref, atol=1e-5, rtol=0)
    metric = SubjectConsistency(tiny_conv)
    metric.update(short)
    metric.update(long)
    all_ref = torch.cat([short_ref, long_ref])
    pooled_ref = (short_ref.sum() * 2 + long_ref.sum() * 8) / (2 * 2 + 8)
    result = metric.compute()
    torch.testing.assert_close(metric.per_video()[metric.name], all_ref, atol=1e-5, rtol=0)
    assert result[metric.name].item() == pytest.approx(pooled_ref.item(), abs=1e-5)
    assert result[f"{metric.name}/video_mean"].item() == pytest.approx(
        all_ref.mean().item(), abs=1e-5
    )
    # VBench's own overall number of one update equals its pooled value
    single = SubjectConsistency(tiny_conv)
    single.update(short)
    assert single.compute()[single.name].item() == pytest.approx(overall_ref, abs=1e-5)


def test_frame_weighted_pooling_differs_from_video_mean():
    """A 2-frame video scoring 0 and a 17-frame video scoring 1: VBench pools 16 of 17 pairs."""
    scores, pairs = torch.tensor([0.0, 1.0]), torch.tensor([1, 16])
    assert frame_weighted_mean(scores, pairs).item() == pytest.approx(16 / 17)
    assert scores.mean().item() == 0.5
    # equal lengths: the two agree
    assert frame_weighted_mean(scores, torch.tensor([4, 4])).item() == pytest.approx(0.5)


def test_pooling_of_videos_with_different_lengths(make_colour_video, mean_colour, raw):
    """Hand-computed: a frozen 5-frame video (1.0 over 4 pairs) and a red -> green one
    (0 over 1 pair): pooled 4/5, per-video mean 1/2."""
    frozen = make_colour_video(*[(1, 0, 0)] * 5)
    change = make_colour_video((1, 0, 0), (0, 1, 0))
    metric = SubjectConsistency(mean_colour, preprocess=raw)
    metric.update(frozen)
    metric.update(change)
    result = metric.compute()
    assert result[metric.name].item() == pytest.approx(0.8, abs=1e-6)
    assert result[f"{metric.name}/video_mean"].item() == pytest.approx(0.5, abs=1e-6)
    dino = DINOConsistency(mean_colour, preprocess=raw)  # FreeInit: mean over videos
    dino.update(frozen)
    dino.update(change)
    assert dino.compute()[dino.name].item() == pytest.approx(50.0, abs=1e-4)


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_invariant_to_chunk_size_and_batch_composition(metric, tiny_conv, make_videos):
    fn, _ = FUNCTIONS[metric]
    videos = make_videos(4, 5, seed=3)
    full = fn(videos, tiny_conv, batch_size=64)
    for batch_size in (1, 3, 7):
        torch.testing.assert_close(fn(videos, tiny_conv, batch_size=batch_size), full)
    parts = torch.cat([fn(videos[:1], tiny_conv), fn(videos[1:], tiny_conv)])
    torch.testing.assert_close(parts, full)
    order = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(fn(videos[order], tiny_conv, batch_size=6), full[order])


def test_invariant_with_a_vit(make_videos):
    """A registered 1-block ViT (random weights): chunking and batch composition."""
    videos = make_videos(3, 3, h=24, w=32, seed=4)
    full = dino_consistency(videos, "test_vit_tiny", weights="random", batch_size=9)
    chunked = dino_consistency(videos, "test_vit_tiny", weights="random", batch_size=2)
    alone = torch.cat(
        [dino_consistency(v[None], "test_vit_tiny", weights="random") for v in videos]
    )
    torch.testing.assert_close(chunked, full, atol=1e-4, rtol=0)
    torch.testing.assert_close(alone, full, atol=1e-4, rtol=0)
    # VBench rule: non-square frames reach the ViT uncropped (dynamic image size)
    subject = subject_consistency(videos, "test_vit_tiny", weights="random")
    assert subject.shape == (3,) and torch.all((subject >= 0) & (subject <= 1))


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_uint8_and_float_inputs_agree(metric, tiny_conv, make_videos):
    fn, _ = FUNCTIONS[metric]
    videos = make_videos(2, 4, seed=6)
    as_float = videos.float() / 255
    torch.testing.assert_close(fn(videos, tiny_conv), fn(as_float, tiny_conv), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        fn(videos, "pixel"), fn(as_float.double(), "pixel"), atol=1e-5, rtol=0
    )


def test_results_are_plain_tensors(tiny_conv, make_videos):
    scores = dino_consistency(make_videos(1, 3), tiny_conv)
    assert not torch.is_inference(scores)
    assert scores.dtype == torch.float32
    scores += 1  # in-place use outside inference mode works


# --------------------------------------------------------------------------- classes


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
@pytest.mark.parametrize(
    ("cls", "fn"),
    [
        (DINOConsistency, dino_consistency),
        (SubjectConsistency, subject_consistency),
        (BackgroundConsistency, background_consistency),
    ],
)
def test_class_accumulates_the_function(cls, fn, tiny_conv, make_videos):
    a, b = make_videos(2, 4, seed=7), make_videos(3, 4, seed=8)
    metric = cls(tiny_conv, batch_size=5)
    metric.update(a)
    metric.update(b)
    expected = torch.cat([fn(a, tiny_conv), fn(b, tiny_conv)])
    per_video = metric.per_video()
    torch.testing.assert_close(per_video[metric.name], expected)
    motion = per_video[f"{metric.name}/motion"]
    assert motion.shape == (5,) and torch.all(motion > 0)
    result = metric.compute()
    assert result[metric.name].item() == pytest.approx(expected.mean().item(), abs=1e-5)
    assert metric.name == f"{cls.metric_name}[custom:TinyConv]"
    metric.reset()
    with pytest.raises(ValueError, match="call update"):
        metric.compute()


def test_pixel_results_are_named_and_documented(make_videos):
    videos = make_videos(2, 3)
    metric = SubjectConsistency("pixel")
    metric.update(videos)
    assert set(metric.compute()) == {
        "subject_consistency[pixel]",
        "subject_consistency[pixel]/video_mean",
        "subject_consistency[pixel]/motion",
    }
    meta = metric.metadata
    assert meta["encoder"] == "pixel" and meta["encoder_weights"] == "none"
    assert meta["preprocess"]["crop"] is False and meta["pooling"].startswith("all frame pairs")
    assert DINOConsistency("pixel").metadata["preprocess"]["crop"] is True


def test_metric_collection_keeps_names_apart(tiny_conv, make_videos):
    videos = make_videos(2, 3)
    collection = MetricCollection(
        [DINOConsistency("pixel"), SubjectConsistency(tiny_conv), Motion(flow=None)],
        compute_groups=False,
    )
    collection.update(videos)
    assert set(collection.compute()) == {
        "dino_consistency[pixel]",
        "dino_consistency[pixel]/motion",
        "subject_consistency[custom:TinyConv]",
        "subject_consistency[custom:TinyConv]/video_mean",
        "subject_consistency[custom:TinyConv]/motion",
        "motion",
    }


def test_missing_weights_fail_at_construction_without_fallback():
    for cls, name in [
        (DINOConsistency, "dino_vits16"),
        (SubjectConsistency, "dino_vitb16"),
        (BackgroundConsistency, "clip_vitb32"),
    ]:
        with pytest.raises(WeightsNotFoundError, match=f"No weights for encoder '{name}'"):
            cls()
    with pytest.raises(WeightsNotFoundError, match="hf download timm/vit_base_patch16_224.dino"):
        subject_consistency(torch.zeros(1, 2, 3, 8, 8))


def test_forward_returns_the_batch_and_accumulates(tiny_conv, make_videos):
    a, b = make_videos(2, 3, seed=1), make_videos(2, 5, seed=2)
    metric = SubjectConsistency(tiny_conv)
    batch = metric(a)  # torchmetrics forward: this batch's result, states kept
    assert batch[metric.name].item() == pytest.approx(
        subject_consistency(a, tiny_conv).mean().item()
    )
    metric(b)
    torch.testing.assert_close(
        metric.per_video()[metric.name],
        torch.cat([subject_consistency(a, tiny_conv), subject_consistency(b, tiny_conv)]),
    )
