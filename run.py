"""freqlab's main entry point: ``python run.py [overrides]`` (Hydra; configs in ``conf/``)."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

log = logging.getLogger("freqlab")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from experiments.demo import run_demo

    try:
        run_demo(cfg)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # One clear message instead of a traceback from deep inside torch or diffusers.
        log.error("%s: %s", type(err).__name__, err)
        sys.exit(1)


if __name__ == "__main__":
    main()
