"""The set of metrics a job computes, built from the ``metrics`` config group.

Feature metrics name their encoder in the result column (``dino_consistency[pixel]``,
``dino_consistency[dino_vits16]``, ``dino_consistency[testbed_judge]``), so results from different
encoders never mix silently. The CPU testbed's judge (``freqlab/testbed/judge.py``, shipped) gives
``testbed_accuracy`` and ``testbed_all4`` and the ``testbed_judge`` encoder: they read the
testbed's videos only, so any other model is refused at start-up (:meth:`MetricSuite.check_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

import evaluation
from evaluation.checkpoints import WeightsSource, check_checkpoint
from evaluation.encoders import (
    ENCODERS,
    PIXEL,
    TESTBED_JUDGE,
    encoder_names,
    resolve_encoder_weights,
)
from experiments.settings import ConfigError
from freqlab.hub import WeightsNotFoundError


@dataclass(frozen=True)
class _Metric:
    fn: Callable[..., torch.Tensor]
    default_encoder: str | None  # None: no encoder (pixel statistics, or its own network)
    needs_prompts: bool = False
    # A metric with its own network (RAFT, AMT-S, MUSIQ, ...): the name of its weights, which is
    # its column tag and its key under metrics.weights; resolve(weights, argument) finds them
    # without loading (WeightsSource), check(path) validates the file at start-up.
    model: str | None = None
    resolve: Callable[[Any, str], WeightsSource] | None = None
    check: Callable[[Any], Any] | None = None
    min_side: int = 1  # the network's smallest frame side (AMT-S: 113, 128 once padded)
    min_frames: int = 2
    weights_arg: str = "weights"  # the function's argument that takes the model's weights
    needs_fps: bool = False  # called as fn(videos, fps, ...): the job's fps
    # Reads the testbed's videos and captions only (the judge's metrics): other models are
    # refused at start-up, and so are testbed videos of another size. Called with device=.
    testbed_only: bool = False


# The model whose videos the testbed judge reads (freqlab.models: model=testbed).
TESTBED_MODEL = "testbed"


def _raft(weights: Any, argument: str) -> WeightsSource:
    from evaluation.optical_flow import resolve_raft_weights

    try:
        return resolve_raft_weights("raft_large", weights)
    except WeightsNotFoundError as err:
        raise WeightsNotFoundError(f"{err}\nOr set {argument}=/path/to/the/checkpoint.") from None


def _amt(weights: Any, argument: str) -> WeightsSource:
    from evaluation.amt import resolve_amt_weights

    return resolve_amt_weights(weights, argument=argument)


def _check_amt(path: Any) -> None:
    from evaluation.amt import check_amt_checkpoint

    check_amt_checkpoint(path)


def _raft_v1(weights: Any, argument: str) -> WeightsSource:
    from evaluation.optical_flow import resolve_raft_weights

    return resolve_raft_weights("raft_large_v1", weights, alternative=f"set {argument}")


def _laion(weights: Any, argument: str) -> WeightsSource:
    from evaluation.metrics.aesthetic_quality import resolve_aesthetic_head

    return resolve_aesthetic_head(weights, argument=argument)


def _musiq(weights: Any, argument: str) -> WeightsSource:
    from evaluation.musiq import resolve_musiq_weights

    return resolve_musiq_weights(weights, argument=argument)


def _model_metric(module: str, name: str) -> Callable[..., torch.Tensor]:
    """``evaluation.metrics.<module>.<name>``, imported when first called (their networks'
    modules are not needed by jobs that do not select them)."""

    def call(*args: Any, **kwargs: Any) -> torch.Tensor:
        import importlib

        return getattr(importlib.import_module(f"evaluation.metrics.{module}"), name)(
            *args, **kwargs
        )

    call.__name__ = name
    return call


METRICS: dict[str, _Metric] = {
    "dino_consistency": _Metric(evaluation.dino_consistency, "dino_vits16"),
    "subject_consistency": _Metric(evaluation.subject_consistency, "dino_vitb16"),
    "background_consistency": _Metric(evaluation.background_consistency, "clip_vitb32"),
    "window_consistency": _Metric(evaluation.window_consistency, "dino_vits16"),
    "cross_window_consistency": _Metric(evaluation.cross_window_consistency, "dino_vits16"),
    "clip_score": _Metric(evaluation.clip_score, "clip_vitb32", needs_prompts=True),
    "temporal_flicker": _Metric(evaluation.temporal_flicker, None),
    "motion": _Metric(evaluation.motion, None),
    "flow_magnitude": _Metric(
        evaluation.flow_magnitude, None, model="raft_large", resolve=_raft, check=check_checkpoint
    ),
    "motion_smoothness": _Metric(
        _model_metric("motion_smoothness", "motion_smoothness"),
        None,
        model="amt_s",
        resolve=_amt,
        check=_check_amt,
        min_side=113,
        min_frames=3,
    ),
    "imaging_quality": _Metric(
        _model_metric("imaging_quality", "imaging_quality"),
        None,
        model="musiq_spaq",
        resolve=_musiq,
        check=check_checkpoint,
    ),
    "dynamic_degree": _Metric(
        _model_metric("dynamic_degree", "dynamic_degree"),
        None,
        model="raft_large_v1",
        resolve=_raft_v1,
        check=check_checkpoint,
        min_side=128,  # RAFT at the native resolution (no resize: the threshold scales with it)
        needs_fps=True,
    ),
    "aesthetic_quality": _Metric(
        _model_metric("aesthetic_quality", "aesthetic_quality"),
        "clip_vitl14",
        model="laion_v1",
        resolve=_laion,
        check=check_checkpoint,
        weights_arg="head_weights",
    ),
    # The shipped judge's reading of each video against its caption (no encoder, no download).
    "testbed_accuracy": _Metric(
        _model_metric("testbed_accuracy", "testbed_accuracy"),
        None,
        needs_prompts=True,
        testbed_only=True,
    ),
    "testbed_all4": _Metric(
        _model_metric("testbed_accuracy", "testbed_all4"),
        None,
        needs_prompts=True,
        testbed_only=True,
    ),
}
# The metrics config group (conf/metrics/*.yaml).
CONF_METRICS = Path(__file__).resolve().parents[1] / "conf" / "metrics"
# The weights keys of metrics with their own network (metrics.weights.<model>).
MODEL_WEIGHTS = {m.model: name for name, m in METRICS.items() if m.model is not None}


class MetricSuite:
    """Callable ``suite(videos (B, T, C, H, W), prompts) -> {column: (B,) tensor}``."""

    def __init__(
        self,
        names: Sequence[str],
        encoder: str | None = None,
        weights: dict[str, str] | None = None,
        batch_size: int = 64,
        device: str | None = None,
        fps: float | None = None,
    ) -> None:
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ConfigError(
                f"metrics.names: unknown metric(s) {', '.join(unknown)}; "
                f"known: {', '.join(METRICS)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"metrics.batch_size must be an integer >= 1, got {batch_size!r}")
        # The judge's frame features have no text counterpart: clip_score would fail only once
        # the videos are sampled.
        texts = [n for n in names if METRICS[n].needs_prompts and METRICS[n].default_encoder]
        if encoder == TESTBED_JUDGE and texts:
            raise ConfigError(
                f"metrics.encoder={TESTBED_JUDGE} has no text features, which "
                f"{', '.join(texts)} needs: remove it from metrics.names, or choose another "
                "encoder"
            )
        self.names = list(names)
        self.encoder = encoder
        self.weights = dict(weights or {})
        self.batch_size = batch_size
        self.device = device
        self.fps = fps  # the videos' frame rate (dynamic_degree sub-samples to ~8 fps)

    @classmethod
    def from_config(
        cls, cfg: DictConfig, device: str | None = None, fps: float | None = None
    ) -> MetricSuite:
        """From the ``metrics`` group: ``names``, ``encoder`` (``pixel`` or null for each
        metric's own), ``weights`` (encoder name -> local checkpoint) and ``batch_size``.

        Weights for an encoder that no selected metric uses are refused (``metrics=pixel
        +metrics.weights.dino_vits16=...`` would otherwise be ignored silently)."""
        names = OmegaConf.select(cfg, "names") or []
        weights = OmegaConf.to_container(cfg.weights) if cfg.get("weights") else {}
        encoder = cfg.get("encoder")
        if encoder is not None and encoder not in encoder_names():
            known = ", ".join(encoder_names())
            raise ConfigError(f"metrics.encoder must be null or one of {known}, got {encoder!r}")
        suite = cls(list(names), encoder, weights, cfg.get("batch_size", 64), device, fps)
        suite._check_weight_keys()
        return suite

    def check_model(self, model: str) -> None:
        """Refuse, before anything loads, the testbed judge's metrics and its encoder
        (``metrics.encoder=testbed_judge``) on a model other than the testbed: the judge only
        reads the testbed's shape videos and captions, so anything else would fail (or, for the
        encoder, mean nothing) once the videos are sampled."""
        if model == TESTBED_MODEL:
            return
        only = [n for n in self.names if METRICS[n].testbed_only]
        why = (
            "the shipped judge of freqlab/testbed/judge.py reads the testbed's 8-frame 32 x 32 "
            "shape videos and their captions"
        )
        if only:
            verb = "scores" if len(only) == 1 else "score"
            raise ConfigError(
                f"metrics.names: {', '.join(only)} {verb} testbed videos only ({why}); model "
                f"{model} is not the testbed: remove {'it' if len(only) == 1 else 'them'} from "
                f"metrics.names (e.g. metrics=pixel), or run model={TESTBED_MODEL}"
            )
        if self.encoder == TESTBED_JUDGE:
            why = (
                "the frame features of the shipped judge of freqlab/testbed/judge.py, learned on "
                "the testbed's 32 x 32 shape videos"
            )
            raise ConfigError(
                f"metrics.encoder: {TESTBED_JUDGE} reads testbed videos only ({why}); model "
                f"{model} is not the testbed: choose another encoder (e.g. metrics.encoder=pixel), "
                f"or run model={TESTBED_MODEL}"
            )

    def check_video_size(self, num_frames: int, height: int, width: int) -> None:
        """Refuse, before anything loads, videos a selected metric's network cannot measure."""
        for name in self.names:
            metric = METRICS[name]
            if metric.testbed_only:
                from freqlab.testbed.data import NUM_FRAMES, SIZE

                if (num_frames, height, width) != (NUM_FRAMES, SIZE, SIZE):
                    raise ConfigError(
                        f"metrics.names: {name} reads the testbed's {NUM_FRAMES}-frame {SIZE} x "
                        f"{SIZE} videos only (the judge's input), got model.num_frames x "
                        f"model.height x model.width = {num_frames}x{height}x{width}: leave them "
                        "at the testbed's defaults, or remove the testbed's metrics from "
                        "metrics.names (e.g. metrics=pixel)"
                    )
            if min(height, width) < metric.min_side:
                raise ConfigError(
                    f"metrics.names: {name} needs frames of at least {metric.min_side} pixels a "
                    f"side ({metric.model}), got model.height x model.width = {height}x{width}"
                )
            if num_frames < metric.min_frames:
                raise ConfigError(
                    f"metrics.names: {name} needs at least {metric.min_frames} frames, got "
                    f"model.num_frames={num_frames}"
                )

    def models(self) -> list[str]:
        """The networks of the selected metrics that have their own (not an encoder)."""
        return [METRICS[n].model for n in self.names if METRICS[n].model is not None]

    def resolve_model(self, name: str) -> WeightsSource:
        """Where metric ``name``'s own network's weights are (no loading); the message of a
        missing file names ``metrics.weights.<model>``."""
        metric = METRICS[name]
        assert metric.model is not None and metric.resolve is not None
        key = f"metrics.weights.{metric.model}"
        return metric.resolve(self.weights.get(metric.model), key)

    def encoders(self) -> list[str]:
        """The registered encoders the selected metrics use (``pixel`` is not one)."""
        used = [self._encoder_of(n) for n in self.names]
        return list(dict.fromkeys(e for e in used if e is not None and e != PIXEL))

    def _check_weight_keys(self) -> None:
        """``metrics.weights`` names registered encoders that a selected metric uses."""
        if self.weights.get(TESTBED_JUDGE) is not None:
            raise ConfigError(
                f"metrics.weights.{TESTBED_JUDGE}: the testbed judge's weights ship with freqlab "
                "(freqlab/testbed/weights/judge.safetensors) and are not replaced; remove the key"
            )
        known = [*ENCODERS, TESTBED_JUDGE, *MODEL_WEIGHTS]
        unknown = [k for k in self.weights if k not in known]
        if unknown:
            raise ConfigError(
                f"metrics.weights.{unknown[0]}: unknown encoder or metric model {unknown[0]!r}; "
                f"known: {', '.join(known)}"
            )
        used = self.encoders() + self.models()
        unused = [k for k, v in self.weights.items() if v is not None and k not in used]
        if unused:
            keys = ", ".join(f"metrics.weights.{k}" for k in unused)
            uses = ", ".join(used) if used else "no encoder with weights"
            raise ConfigError(
                f"{keys}: no selected metric uses encoder {', '.join(unused)} "
                f"(metrics.names=[{', '.join(self.names)}], metrics.encoder={self.encoder}: "
                f"{uses}); "
                "remove the key, or select a metric that uses it"
            )

    def check_weights(self) -> dict[str, str]:
        """Find and validate every used encoder's checkpoint without building a model (start-up
        check, before any sampling). Returns encoder -> where its weights are.

        Raises:
            WeightsNotFoundError: missing weights; the message names ``metrics.weights.<name>``.
            ConfigError: the file is not a valid checkpoint (or needs pickled objects); the
                message names the key that points at it.
        """
        found, missing = {}, []
        for name in self.encoders():
            key = f"metrics.weights.{name}"
            try:
                source = resolve_encoder_weights(name, self.weights.get(name), argument=key)
            except WeightsNotFoundError as err:  # report every missing encoder at once
                missing.append(str(err))
                continue
            if source.path is not None:
                try:
                    check_checkpoint(source.path)
                except ValueError as err:
                    given = self.weights.get(name)
                    where = f"{key}={given}" if given is not None else f"{key} (unset: {source})"
                    raise ConfigError(f"{where}: {err}") from None
            found[name] = str(source)
        for name in self.names:
            metric = METRICS[name]
            if metric.model is None:
                continue
            key = f"metrics.weights.{metric.model}"
            try:
                source = self.resolve_model(name)
            except WeightsNotFoundError as err:
                missing.append(str(err))
                continue
            if source.path is not None and metric.check is not None:
                try:
                    metric.check(source.path)
                except ValueError as err:
                    raise ConfigError(f"{key} ({source}): {err}") from None
            found[metric.model] = str(source)
        if missing:
            raise WeightsNotFoundError("\n\n".join(missing))
        return found

    def _encoder_of(self, name: str) -> str | None:
        default = METRICS[name].default_encoder
        if default is None or METRICS[name].model is not None:
            return default  # a metric's own network pairs with its own encoder only
        return self.encoder or default

    def column(self, name: str) -> str:
        """The result column of metric ``name``: ``name[encoder]`` for feature metrics,
        ``name[model]`` for metrics with their own network (``@random`` with random weights)."""
        model = METRICS[name].model
        if model is not None:
            random = self.weights.get(model) == "random"
            return f"{name}[{model}{'@random' if random else ''}]"
        encoder = self._encoder_of(name)
        return name if encoder is None else f"{name}[{encoder}]"

    def describe(self) -> dict[str, Any]:
        """Column -> metric, encoder and weights, for the job summary."""
        out = {}
        for name in self.names:
            encoder, model = self._encoder_of(name), METRICS[name].model
            weights = self.weights.get(model or encoder) if (model or encoder) else None
            about = dict(metric=name, encoder=encoder, weights=weights, model=model)
            if METRICS[name].needs_fps:
                about["fps"] = self.fps
            if METRICS[name].testbed_only:
                from freqlab.testbed.judge import judge_digest

                about["judge"] = judge_digest()  # which judge read the videos
            out[self.column(name)] = about
        return out

    @torch.inference_mode()
    def __call__(self, videos: torch.Tensor, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        scores = {}
        for name in self.names:
            metric, encoder = METRICS[name], self._encoder_of(name)
            kwargs: dict[str, Any] = {}
            if metric.model is not None:
                kwargs = {metric.weights_arg: self.weights.get(metric.model), "device": self.device}
                if encoder is not None:
                    kwargs |= dict(weights=self.weights.get(encoder), batch_size=self.batch_size)
            elif encoder is not None:
                kwargs = dict(
                    encoder=encoder,
                    weights=self.weights.get(encoder),
                    batch_size=self.batch_size,
                    device=self.device,
                )
            elif metric.testbed_only:
                kwargs = dict(device=self.device)
            args = (videos, list(prompts)) if metric.needs_prompts else (videos,)
            if metric.needs_fps:
                args = (videos, self.fps)
            scores[self.column(name)] = metric.fn(*args, **kwargs).float().cpu()
        return scores
