"""Model registry: ``load_model(name)`` is the single entry point for every video pipeline."""

from freqlab.models.registry import MODELS, ModelSpec, get_model_spec, load_model

__all__ = ["MODELS", "ModelSpec", "get_model_spec", "load_model"]
