"""The experiment presets (conf/experiment): every job of every sweep composes and resolves, and
each preset sweeps what it says."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from experiments.settings import ConfigError, resolve
from freqlab.data import load_prompts
from freqlab.models import MODELS
from freqlab.spectral import FILTER_METHODS

CONF = Path(__file__).resolve().parents[2] / "conf"
PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
JOBS = {
    "paper_table1": 6,
    "ablation_filter": 5,
    "ablation_d0": 5,
    "ablation_iters": 1,
    "ablation_fast_sampling": 4,
    "freeu_grid": 36,
    "freeinit_x_freeu": 2,
    "freqprior_vs_freeinit": 2,
    "long_video": 4,
    "method_zoo": 8,
}


def _init() -> None:
    # One Hydra initialisation for the many compositions below (other modules clear it).
    if not GlobalHydra.instance().is_initialized():
        initialize_config_dir(config_dir=str(CONF), version_base="1.3")


def _compose(overrides: list[str]):
    """One job's config, without the hydra node (its ${hydra:...} values need a running job)."""
    _init()
    cfg = compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.root = "/tmp/freqlab"
        cfg.paths.output_dir = "/tmp/freqlab/out"
        del cfg["hydra"]
    return cfg


def _jobs(preset: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    """The overrides of each job of ``python run.py experiment=<preset> <extra>``, as Hydra's
    basic sweeper expands them (command-line values replace the preset's; ``extra`` may sweep,
    e.g. ``dataset.shard=range(8)``, as the preset's ``hydra.mode`` makes the command a sweep)."""
    _init()
    cfg = GlobalHydra.instance().hydra.compose_config(
        "config", [f"experiment={preset}", *extra], run_mode=RunMode.MULTIRUN
    )
    assert cfg.hydra.mode == RunMode.MULTIRUN
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items()]
    overrides = OverridesParser.create().parse_overrides([*params, *extra])
    return BasicSweeper.split_arguments(overrides, None)[0]


def _settings(preset: str, job: list[str]):
    return _resolved(preset, tuple(job))


@cache
def _resolved(preset: str, job: tuple[str, ...]):
    cfg = _compose([f"experiment={preset}", *job, "device=cpu"])
    return cfg, resolve(cfg)


def test_every_preset_is_listed_and_global():
    assert PRESETS == sorted(JOBS)
    for p in PRESETS:
        assert (CONF / "experiment" / f"{p}.yaml").read_text().startswith("# @package _global_")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_job_composes_and_resolves(preset):
    jobs = _jobs(preset)
    assert len(jobs) == JOBS[preset]
    for job in _spread(jobs):
        _settings(preset, job)


def _spread(jobs: list[list[str]], limit: int = 8) -> list[list[str]]:
    """At most ``limit`` jobs, first and last included (a 36-point grid differs only in values)."""
    step = max(1, -(-len(jobs) // limit))
    return jobs[::step] + ([jobs[-1]] if (len(jobs) - 1) % step else [])


def test_paper_table1():
    jobs = _jobs("paper_table1")
    runs = [dict(o.split("=") for o in job) for job in jobs]
    assert [r["dataset"] for r in runs] == ["ucf101"] * 3 + ["msrvtt"] * 3  # UCF-101 first
    assert {r["model"] for r in runs} == {"animatediff_v1", "modelscope", "videocrafter2"}
    cfg, settings = _settings("paper_table1", jobs[0])
    assert settings.freeinit | dict(method="gaussian", d_s=0.25, d_t=0.25, num_iters=5) == (
        settings.freeinit
    )
    assert settings.freeu is None
    assert cfg.metrics.encoder is None and "dino_consistency" in cfg.metrics.names
    assert cfg.dataset.limit is None and cfg.dataset.path is None  # every packaged UCF-101 prompt
    # MSR-VTT needs its caption file, named by its own key
    cfg, _ = _settings("paper_table1", jobs[3])
    with pytest.raises(ValueError, match=r"prompt_files\.msrvtt"):
        OmegaConf.select(cfg, "dataset.path", throw_on_missing=True)
    path = "/data/msrvtt/MSRVTT_JSFUSION_test.csv"
    cfg, _ = _settings("paper_table1", [*jobs[3], f"prompt_files.msrvtt={path}"])
    assert cfg.dataset.path == path
    # the command line wins: a quick look on the tiny model
    assert len(_jobs("paper_table1", ("model=tiny_animatediff",))) == 2


def test_ablations():
    methods = [
        _settings("ablation_filter", j)[1].freeinit["method"] for j in _jobs("ablation_filter")
    ]
    assert sorted(methods) == sorted(FILTER_METHODS)
    d0 = [_settings("ablation_d0", j)[1].freeinit for j in _jobs("ablation_d0")]
    assert [f["d_s"] for f in d0] == [f["d_t"] for f in d0] == [0.0625, 0.125, 0.25, 0.5, 1.0]
    (job,) = _jobs("ablation_iters")
    assert _settings("ablation_iters", job)[1].freeinit["num_iters"] == 6
    fast = [
        _settings("ablation_fast_sampling", j)[1].freeinit for j in _jobs("ablation_fast_sampling")
    ]
    assert {(f["fast_sampling"], f["num_iters"]) for f in fast} == {
        (False, 3),
        (False, 5),
        (True, 3),
        (True, 5),
    }
    for preset in ("ablation_filter", "ablation_d0", "ablation_iters", "ablation_fast_sampling"):
        cfg, settings = _settings(preset, _jobs(preset)[0])
        assert settings.model == "animatediff_v1" and cfg.metrics.encoder is None


def test_freeu_presets():
    jobs = _jobs("freeu_grid")
    factors = {tuple(float(o.split("=")[1]) for o in job) for job in jobs}
    assert len(factors) == 36 and (1.2, 1.4, 0.9, 0.2) in factors
    for job in _spread(jobs):
        settings = _settings("freeu_grid", job)[1]
        assert settings.freeinit["num_iters"] == 1 and settings.freeu["variant"] == "v1"
        assert [settings.freeu[k] for k in ("b1", "b2", "s1", "s2")] == [
            float(o.split("=")[1]) for o in job
        ]
    off, on = (_settings("freeinit_x_freeu", j)[1] for j in _jobs("freeinit_x_freeu"))
    assert off.freeu is None and on.freeu["b1"] == MODELS[on.model].freeu["b1"]  # recommended
    assert off.freeinit == on.freeinit and on.freeinit["num_iters"] == 5


def test_freqprior_vs_freeinit_at_an_equal_budget():
    freeinit, freqprior = (
        _settings("freqprior_vs_freeinit", j)[1] for j in _jobs("freqprior_vs_freeinit")
    )
    assert freeinit.sampler == "freeinit" and freqprior.sampler == "freqprior"
    assert freeinit.freqprior is None and freqprior.freeinit["num_iters"] == 1  # one loop each
    assert freeinit.freeinit["num_iters"] == 3 and freqprior.freqprior["num_iters"] == 4
    for settings in (freeinit, freqprior):
        args = settings.sampler_config
        assert (args["method"], args["d_s"], args["d_t"], args["order"]) == (
            "butterworth",
            0.25,
            0.25,
            4,
        )
    # 25 DDIM steps (the testbed's linspace schedule has 333, not 321: auto takes the nearest,
    # 16 steps before it): 3 x 25 = 75 against 3 x 16 + 25 = 73 UNet steps per video
    assert freeinit.unet_steps() == [25, 50, 75]
    assert freqprior.freqprior["mid_step"] == 333
    assert freqprior.unet_steps() == [25, 41, 57, 73]
    assert freeinit.seeds == freqprior.seeds  # the same noise at pass 0


def test_long_video_arms():
    arms = {j[0].split("=")[1]: _settings("long_video", j)[1] for j in _jobs("long_video")}
    assert sorted(arms) == ["freenoise_128", "freenoise_32", "freenoise_64", "plain_32"]
    assert arms["plain_32"].freenoise is None
    assert arms["plain_32"].call_kwargs["num_frames"] == 32
    for frames in (32, 64, 128):
        settings = arms[f"freenoise_{frames}"]
        assert settings.call_kwargs["num_frames"] == frames
        assert settings.freenoise == dict(
            context_length=16,
            context_stride=4,
            weighting="pyramid",
            noise="shuffle_context",
            fix_tail=True,
            windows=True,
        )
        assert settings.freeinit["num_iters"] == 1
    # past the motion module's 32 positions only with windows: plain 64 frames is refused
    with pytest.raises(ConfigError, match="model.num_frames must be at most 32"):
        _settings("long_video", ("+long_video=plain_32", "model.num_frames=64"))


def test_method_zoo_arms():
    arms = {j[0].split("=")[1]: _settings("method_zoo", j)[1] for j in _jobs("method_zoo")}
    on = {
        name: tuple(
            m
            for m in ("freeinit", "freqprior", "freeu", "bytheway")
            if (s.freeinit["num_iters"] > 1 if m == "freeinit" else getattr(s, m) is not None)
        )
        for name, s in arms.items()
    }
    assert on == {
        "plain": (),
        "freeinit": ("freeinit",),
        "freqprior": ("freqprior",),
        "freeu": ("freeu",),
        "bytheway": ("bytheway",),
        "freeinit_freeu": ("freeinit", "freeu"),
        "freeinit_bytheway": ("freeinit", "bytheway"),
        "freqprior_bytheway": ("freqprior", "bytheway"),
    }
    assert arms["freeinit"].freeinit["num_iters"] == arms["freqprior"].freqprior["num_iters"] == 3
    # AnimateDiff's recommendation, tau 7 at 16 frames (every bin but DC): 3 at the testbed's 8
    assert arms["bytheway"].bytheway["tau"] == 3
    assert len({tuple(s.seeds) for s in arms.values()}) == 1


PAPER = OmegaConf.load(CONF / "metrics" / "paper.yaml")
PIXEL = OmegaConf.load(CONF / "metrics" / "pixel.yaml")
# The testbed's own choice: the pixel metrics and its judge's.
TESTBED = OmegaConf.load(CONF / "metrics" / "testbed.yaml")
LONG_VIDEO_METRICS = [
    "dino_consistency",
    "window_consistency",
    "cross_window_consistency",
    "temporal_flicker",
    "motion",
]
ABLATION = dict(model="animatediff_v1", dataset="ucf101", metrics=PAPER, limit=None)
# What each preset runs on (None: swept, see SWEEPS) and what it sweeps. The ablations say "every
# UCF-101 prompt": they choose the dataset themselves; the FreeU presets take the model's choice.
PRESET_GROUPS = {
    "paper_table1": dict(model=None, dataset=None, metrics=PAPER, limit=None),
    "ablation_filter": ABLATION,
    "ablation_d0": ABLATION,
    "ablation_iters": ABLATION,
    "ablation_fast_sampling": ABLATION,
    "freeu_grid": dict(model="testbed", dataset="shapes", metrics=TESTBED, limit=8),
    "freeinit_x_freeu": dict(model="testbed", dataset="shapes", metrics=TESTBED, limit=8),
    "freqprior_vs_freeinit": dict(model="testbed", dataset="shapes", metrics=TESTBED, limit=8),
    "long_video": dict(
        model="testbed",
        dataset="shapes",
        metrics=OmegaConf.merge(TESTBED, dict(names=LONG_VIDEO_METRICS)),
        limit=8,
    ),
    "method_zoo": dict(model="testbed", dataset="shapes", metrics=TESTBED, limit=8),
}
SWEEPS = {
    "paper_table1": {"dataset", "model"},
    "ablation_filter": {"freeinit.method"},
    "ablation_d0": {"freeinit.d0"},
    "ablation_iters": set(),  # one 6-pass job
    "ablation_fast_sampling": {"freeinit.fast_sampling", "freeinit.num_iters"},
    "freeu_grid": {"freeu.b1", "freeu.b2", "freeu.s1", "freeu.s2"},
    "freeinit_x_freeu": {"freeu"},
    "freqprior_vs_freeinit": {"freqprior"},
    "long_video": {"+long_video"},
    "method_zoo": {"+zoo"},
}


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_runs_on_the_model_prompts_and_metrics_it_says(preset):
    expected = PRESET_GROUPS[preset]
    jobs = _jobs(preset)
    assert {o.split("=")[0] for job in jobs for o in job} == SWEEPS[preset]
    for job in _spread(jobs):
        cfg, settings = _settings(preset, job)
        swept = dict(o.split("=") for o in job)
        assert settings.model == (expected["model"] or swept["model"])
        assert cfg.dataset.name == (expected["dataset"] or swept["dataset"])
        assert cfg.dataset.limit == expected["limit"]
        assert cfg.metrics == expected["metrics"]


@pytest.mark.parametrize("preset", [p for p in PRESETS if p.startswith("ablation_")])
def test_ablations_take_every_ucf101_prompt(preset):
    cfg, _ = _settings(preset, _jobs(preset)[0])
    prompts = load_prompts(cfg.dataset.name, path=cfg.dataset.path, limit=cfg.dataset.limit)
    assert len(prompts) == 101 and {p.dataset for p in prompts} == {"ucf101"}
    # whatever the model: a tiny model would otherwise bring the shape captions
    cfg, _ = _settings(preset, (*_jobs(preset)[0], "model=tiny_animatediff"))
    assert cfg.dataset.name == "ucf101" and cfg.metrics == PAPER


def test_presets_yield_to_the_command_line():
    # the README's quick offline look at a preset
    quick = ("model=tiny_animatediff", "metrics=pixel", "dataset.limit=4")
    jobs = _jobs("ablation_filter", quick)
    assert len(jobs) == 5
    for job in _spread(jobs):
        cfg, settings = _settings("ablation_filter", job)
        assert settings.model == "tiny_animatediff" and cfg.metrics == PIXEL
        assert (cfg.dataset.name, cfg.dataset.limit) == ("ucf101", 4)
    # a swept key given on the command line replaces the sweep: the README's warm-up of the
    # shared baseline chain before a parallel filter sweep is one job
    (job,) = _jobs("ablation_filter", ("freeinit.method=gaussian",))
    assert _settings("ablation_filter", job)[1].freeinit["method"] == "gaussian"
    # a FreeU preset on a real model takes that model's prompts and metrics
    for job in _spread(_jobs("freeu_grid", ("model=modelscope",)), limit=2):
        cfg, settings = _settings("freeu_grid", job)
        assert settings.model == "modelscope" and cfg.dataset.name == "ucf101"
        assert cfg.metrics == PAPER


def _readme_preset_rows() -> dict[str, tuple[list[str], int]]:
    """The README's preset table: preset -> (its command's overrides, its number of jobs)."""
    text = (CONF.parent / "README.md").read_text()
    section = text[text.index("## Paper tables, ablations and reports") :]
    rows = {}
    for line in section[: section.index("### Scale-out")].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[0].strip("`") in PRESET_GROUPS:
            command = re.search(r"`([^`]+)`", cells[1]).group(1).split()  # first code span
            assert command[:2] == ["python", "run.py"], line
            rows[cells[0].strip("`")] = (command[2:], int(cells[3]))
    return rows


def test_readme_gives_each_presets_exact_command_and_jobs():
    rows = _readme_preset_rows()
    assert sorted(rows) == PRESETS
    for preset, (command, num_jobs) in rows.items():
        # the one placeholder, filled in as a user would
        extra = tuple("model=modelscope" if o == "model=<name>" else o for o in command)
        assert extra[0] == f"experiment={preset}"
        jobs = _jobs(preset, extra[1:])
        assert len(jobs) == num_jobs == JOBS[preset]
        _settings(preset, jobs[-1])  # the last job resolves (e.g. MSR-VTT with its file)
