"""freqlab: training-free frequency-domain methods (FreeInit, FreeU) for video diffusion."""

from freqlab.spectral import (
    FILTER_METHODS,
    FREEU_VARIANTS,
    freeu_backbone_scale,
    freeu_skip_filter,
    freq_mix_3d,
    frequency_band_index,
    highpass_filter,
    lowpass_filter,
    snr_by_frequency,
)

__version__ = "0.1.0"

__all__ = [
    "FILTER_METHODS",
    "FREEU_VARIANTS",
    "freeu_backbone_scale",
    "freeu_skip_filter",
    "freq_mix_3d",
    "frequency_band_index",
    "highpass_filter",
    "lowpass_filter",
    "snr_by_frequency",
]
