"""Config composition through Hydra's compose API: every model x experiment, and validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from experiments.settings import ConfigError, resolve
from freqlab.models import MODELS

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUP_OPTIONS = {
    g: sorted(p.stem for p in (CONF / g).glob("*.yaml")) for g in ("model", "experiment")
}


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    # Outside a Hydra run the ${hydra:...} resolvers have nothing to read.
    with open_dict(cfg):
        cfg.paths.root = "/tmp/freqlab"
        cfg.paths.output_dir = "/tmp/freqlab/out"
        del cfg["hydra"]
    return cfg


def test_every_registry_model_has_a_config():
    assert set(GROUP_OPTIONS["model"]) == set(MODELS)


@pytest.mark.parametrize("experiment", [None, *GROUP_OPTIONS["experiment"]])
@pytest.mark.parametrize("model", GROUP_OPTIONS["model"])
def test_every_model_x_experiment_composes_and_resolves(model, experiment):
    overrides = [f"model={model}"] + ([f"experiment={experiment}"] if experiment else [])
    cfg = _compose(overrides + ["device=cpu"])
    if "dataset.path" in str(cfg.dataset) and cfg.dataset.name in ("msrvtt", "custom"):
        cfg.dataset.path = "/data/prompts"
    settings = resolve(cfg)
    assert settings.model == (cfg.model.name)
    assert settings.call_kwargs["num_frames"] >= 1
    assert settings.freeinit["num_iters"] >= 1


def test_d0_sets_both_stop_frequencies_unless_overridden():
    settings = resolve(_compose(["freeinit.d0=0.5", "device=cpu"]))
    assert settings.freeinit["d_s"] == settings.freeinit["d_t"] == 0.5
    settings = resolve(_compose(["freeinit.d0=0.5", "freeinit.d_t=0.1", "device=cpu"]))
    assert (settings.freeinit["d_s"], settings.freeinit["d_t"]) == (0.5, 0.1)


def test_shipped_weights_are_part_of_the_sample_identity(monkeypatch):
    from freqlab.testbed.model import weights_digest

    identity = resolve(_compose(["model=testbed", "device=cpu"])).identity
    assert identity["weights_digest"] == weights_digest() and len(identity["weights_digest"]) == 16
    # retrained weights give other cache keys; models without shipped weights have none
    monkeypatch.setitem(
        MODELS, "testbed", replace(MODELS["testbed"], weights_digest=lambda: "0" * 16)
    )
    assert resolve(_compose(["model=testbed", "device=cpu"])).identity != identity
    assert "weights_digest" not in resolve(_compose(["model=tiny_animatediff"])).identity


def test_freeu_model_takes_the_registry_factors():
    settings = resolve(_compose(["freeu=model", "device=cpu"]))
    assert settings.freeu == MODELS[settings.model].freeu
    settings = resolve(_compose(["freeu=model", "freeu.b1=1.3", "device=cpu"]))
    assert settings.freeu["b1"] == 1.3


@pytest.mark.parametrize(
    "override, key",
    [
        ("freeinit.num_iters=0", "freeinit.num_iters"),
        ("freeinit.d0=1.5", "freeinit.d0"),
        ("freeinit.d_t=-0.1", "freeinit.d_t"),
        ("freeinit.method=triangle", "freeinit.method"),
        ("freeinit.order=0", "freeinit.order"),
        ("freeinit.rng=global", "freeinit.rng"),
        ("num_seeds=0", "num_seeds"),
        ("batch_size=0", "batch_size"),
        ("model.num_frames=0", "model.num_frames"),
        ("device=tpu", "device"),
        ("dtype=int8", "dtype"),
        ("freeu.variant=v3", "freeu.variant"),
        ("freeu.stages=all", "freeu.stages"),
        ("freeu.b1=abc", "freeu.b1"),
    ],
)
def test_bad_values_name_the_key(override, key):
    cfg = _compose(["freeu=model", override] if override.startswith("freeu") else [override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolve(cfg)


def test_misspelt_key_is_rejected_by_hydra():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="num_iter"):
        _compose(["freeinit.num_iter=3"])


def test_missing_required_path_names_the_key():
    cfg = _compose(["dataset=msrvtt", "device=cpu"])
    from experiments.generate import _plan

    with pytest.raises(ConfigError, match=r"dataset\.path"):
        _plan(cfg, resolve(cfg))
