"""Config composition through Hydra's compose API: every model x experiment, and validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.settings import TEMPORAL_ATTENTION_FAMILIES, ConfigError, resolve
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
    unet_only = [
        m
        for m in ("freeu", "freenoise", "bytheway", "freelong")
        if m in cfg and cfg[m].get("enabled") and cfg[m].get("windows", True)
    ]
    if unet_only and MODELS[model].family not in TEMPORAL_ATTENTION_FAMILIES:
        # FreeU and the temporal-attention methods need a UNet; a DiT has none: one clear error
        # naming the key and the model.
        with pytest.raises(
            ConfigError, match=rf"^({'|'.join(unet_only)})\.(enabled|windows): .*{model}"
        ):
            resolve(cfg)
        return
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
    from experiments.plan import plan_samples

    with pytest.raises(ConfigError, match=r"dataset\.path"):
        plan_samples(cfg, resolve(cfg))


# --- Each model's natural prompts and metrics (issue 13 §7) -------------------------------------

PAPER_METRICS = OmegaConf.load(CONF / "metrics" / "paper.yaml")
PIXEL_METRICS = OmegaConf.load(CONF / "metrics" / "pixel.yaml")
TESTBED_METRICS = OmegaConf.load(CONF / "metrics" / "testbed.yaml")


def _natural(model: str) -> tuple[str, DictConfig]:
    """A real (pretrained) model's prompts and metrics are UCF-101 and the paper's; the tiny
    models' (offline, no weights) the shape captions and the pixel metrics; the testbed's the
    shape captions and the pixel metrics with its judge's (metrics=testbed)."""
    if MODELS[model].pretrained:
        return "ucf101", PAPER_METRICS
    return "shapes", TESTBED_METRICS if model == "testbed" else PIXEL_METRICS


def _assert_groups(cfg: DictConfig, dataset: str, metrics: DictConfig) -> None:
    assert cfg.dataset.name == dataset
    assert cfg.dataset == OmegaConf.load(CONF / "dataset" / f"{dataset}.yaml")  # untouched group
    assert cfg.metrics == metrics


@pytest.mark.parametrize("model", GROUP_OPTIONS["model"])
def test_each_model_brings_its_natural_prompts_and_metrics(model):
    dataset, metrics = _natural(model)
    _assert_groups(_compose([f"model={model}"]), dataset, metrics)
    # the command line wins, in either direction and in any order
    _assert_groups(
        _compose(["dataset=shapes", "metrics=pixel", f"model={model}"]), "shapes", PIXEL_METRICS
    )
    _assert_groups(
        _compose([f"model={model}", "dataset=ucf101", "metrics=paper"]), "ucf101", PAPER_METRICS
    )
    cfg = _compose([f"model={model}", "dataset=msrvtt"])
    assert cfg.dataset.name == "msrvtt" and cfg.metrics == metrics


def test_real_and_tiny_models_are_the_ones_documented():
    assert {m for m in MODELS if MODELS[m].pretrained} == {
        "animatediff",
        "animatediff_v1",
        "modelscope",
        "zeroscope",
        "videocrafter2",
        "animatediff_sdxl",
        "wan21_t2v_1_3b",
        "wan22_ti2v_5b",
        "wan22_t2v_a14b",
        "cogvideox_2b",
        "cogvideox_5b",
        "ltx_video",
        "mochi",
        "hunyuanvideo15",
    }
    assert {m for m in MODELS if not MODELS[m].pretrained} == {
        "testbed",
        "tiny_animatediff",
        "tiny_modelscope",
        "tiny_wan",
        "tiny_wan22",
        "tiny_cogvideox",
        "tiny_ltx",
        "tiny_mochi",
        "tiny_hunyuanvideo15",
    }


def test_the_users_command_composes_ucf101_and_the_paper_metrics():
    # python run.py model=animatediff freeinit.d0=0.25 -m
    cfg = _compose(["model=animatediff", "freeinit.d0=0.25", "device=cpu"])
    _assert_groups(cfg, "ucf101", PAPER_METRICS)
    assert cfg.metrics.encoder is None and "dino_consistency" in cfg.metrics.names  # FreeInit's
    settings = resolve(cfg)
    assert settings.model == "animatediff" and settings.freeinit["d_s"] == 0.25
    # ... and its overrides: back to the testbed's prompts and metrics on the real model
    cfg = _compose(["model=animatediff", "freeinit.d0=0.25", "dataset=shapes", "metrics=pixel"])
    _assert_groups(cfg, "shapes", PIXEL_METRICS)
    assert cfg.model.name == "animatediff"
    # the default run: the testbed with its judge's metrics
    _assert_groups(_compose([]), "shapes", TESTBED_METRICS)


def _multirun(overrides: list[str], sweep_dir: Path) -> list[DictConfig]:
    """The config each job of ``python run.py -m <overrides>`` receives, through Hydra's own
    sweeper and launcher (each job composes its own defaults)."""
    jobs: list[DictConfig] = []
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        GlobalHydra.instance().hydra.multirun(
            config_name="config",
            task_function=lambda cfg: jobs.append(OmegaConf.to_container(cfg, resolve=True)),
            overrides=[*overrides, f"hydra.sweep.dir={sweep_dir}", "hydra/job_logging=none"],
            with_log_configuration=False,
        )
    return [OmegaConf.create(job) for job in jobs]


def test_a_sweep_over_models_gives_each_model_its_own_defaults(tmp_path):
    (job,) = _multirun(["model=animatediff", "freeinit.d0=0.25"], tmp_path / "a")
    _assert_groups(job, "ucf101", PAPER_METRICS)
    models = ["testbed", "animatediff", "tiny_modelscope", "modelscope"]
    jobs = _multirun([f"model={','.join(models)}"], tmp_path / "b")
    assert [j.model.name for j in jobs] == models
    for job in jobs:
        _assert_groups(job, *_natural(job.model.name))
    jobs = _multirun(
        ["model=testbed,animatediff", "dataset=ucf101", "metrics=pixel"], tmp_path / "c"
    )
    for job in jobs:
        _assert_groups(job, "ucf101", PIXEL_METRICS)


@pytest.mark.parametrize(
    "overrides, dataset, metrics",
    [
        # a preset's choices beat the model's: the ablations are UCF-101 + paper whatever the model
        (["experiment=ablation_filter", "model=tiny_animatediff"], "ucf101", PAPER_METRICS),
        # and the command line beats the preset's
        (["experiment=ablation_d0", "dataset=shapes", "metrics=pixel"], "shapes", PIXEL_METRICS),
        # presets that choose no prompts take the model's
        (["experiment=freeu_grid", "model=modelscope"], "ucf101", PAPER_METRICS),
        (["experiment=freeinit_x_freeu", "model=tiny_animatediff"], "shapes", PIXEL_METRICS),
    ],
)
def test_precedence_command_line_then_preset_then_model(overrides, dataset, metrics):
    cfg = _compose(overrides)
    assert cfg.dataset.name == dataset and cfg.metrics == metrics


GENERATION = {
    "dataset",
    "metrics",
    "model",
    "freeinit",
    "freeu",
    "freqprior",
    "freenoise",
    "bytheway",
    "freelong",
    "logger",
}
# The groups each task pulls in (conf/task/<task>.yaml): nothing of another task's.
TASK_GROUPS = {
    "generate": GENERATION,
    "plan": GENERATION,
    # FreeInit's refined noise only
    "snr": GENERATION - {"freqprior", "freenoise", "bytheway", "freelong"} | {"snr"},
    "train_testbed": {"train", "logger"},
    "train_judge": {"train_judge", "logger"},
}
ALL_GROUPS = {p.name for p in CONF.iterdir() if p.is_dir()} - {"hydra", "experiment", "task"}


def test_every_task_config_is_a_task_of_run_py():
    import run

    assert sorted(p.stem for p in (CONF / "task").glob("*.yaml")) == sorted(run.TASKS)
    assert set(TASK_GROUPS) == set(run.TASKS)


@pytest.mark.parametrize("task", sorted(TASK_GROUPS))
def test_each_task_composes_only_its_own_groups(task):
    overrides = [] if task == "generate" else [f"task={task}"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    assert cfg.task == task  # the task's name, as run.py and the start-up checks read it
    assert {g for g in ALL_GROUPS if g in cfg} == TASK_GROUPS[task]
    # outputs/<task name>/<date_time>, multirun/<task name>/<date_time>
    assert cfg.hydra.run.dir.startswith(f"outputs/{task}/")
    assert cfg.hydra.sweep.dir.startswith(f"multirun/{task}/")


@pytest.mark.parametrize("task", sorted(TASK_GROUPS))
def test_a_tasks_wandb_config_carries_no_other_tasks_settings(task, monkeypatch, tmp_path):
    import wandb

    from experiments.wandb_logger import start_run

    logged = {}
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(wandb, "init", lambda **kwargs: logged.update(kwargs) or "run")
    cfg = _compose([f"task={task}", "logger=wandb"])
    assert start_run(cfg, tmp_path, name="job") == "run"
    assert {g for g in ALL_GROUPS if g in logged["config"]} == TASK_GROUPS[task]


def test_snr_reads_the_models_natural_prompts():
    # task=snr reads the dataset group for its correlation prompts: a real model's are UCF-101,
    # with the same precedence as generation (the command line wins)
    cfg = _compose(["task=snr", "model=modelscope"])
    assert cfg.task == "snr" and cfg.dataset.name == "ucf101" and cfg.model.name == "modelscope"
    assert _compose(["task=snr"]).dataset.name == "shapes"
    assert _compose(["task=snr", "dataset=msrvtt", "model=modelscope"]).dataset.name == "msrvtt"
