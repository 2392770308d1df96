"""Fixtures of the model tests: a network guard and tiny saved models in the real layouts."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def network_attempts(monkeypatch):
    """Every test here runs with IP networking disabled; the list records any attempt
    (address or host name), so tests can assert that nothing tried."""
    attempts: list = []
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("network access is disabled in the freqlab model tests")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(host)
        raise socket.gaierror(
            socket.EAI_NONAME, "network access is disabled in the freqlab model tests"
        )

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access is disabled in the freqlab model tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempts


@pytest.fixture
def empty_hf_home(tmp_path, monkeypatch):
    """An empty Hugging Face home, offline: nothing is cached and nothing may be downloaded."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """Tiny models saved with ``save_pretrained`` in the layouts of the real repositories.

    ``sd`` (Stable Diffusion 1.5 pipeline), ``adapter`` / ``adapter_v1`` (MotionAdapter with /
    without mid block), ``ms`` (ModelScope / ZeroScope TextToVideoSD pipeline), ``vc2_unet``
    (VideoCrafter2 UNet at the root, as adamdad/videocrafterv2_diffusers), ``sdxl`` /
    ``adapter_sdxl``, ``wan`` (WanPipeline).
    """
    from freqlab.models import tiny

    root = tmp_path_factory.mktemp("tiny_models")
    builders = {
        "sd": tiny.tiny_stable_diffusion,
        "adapter": tiny.tiny_motion_adapter,
        "adapter_v1": lambda: tiny.tiny_motion_adapter(mid_block=False),
        "ms": tiny.tiny_modelscope,
        "vc2_unet": tiny.tiny_videocrafter2_unet,
        "sdxl": tiny.tiny_stable_diffusion_xl,
        "adapter_sdxl": tiny.tiny_sdxl_motion_adapter,
        "wan": tiny.tiny_wan,
    }
    dirs = {}
    for key, build in builders.items():
        dirs[key] = root / key
        build().save_pretrained(dirs[key])
    return dirs


class HubCache:
    """A Hugging Face cache directory that tests fill by copying tiny models into it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def put(self, repo_id: str, src: Path, revision: str = "main", sha: str = "") -> Path:
        """Lay ``src`` out as the cache holds ``repo_id`` at ``revision`` (a snapshot folder named
        after the commit, and ``refs/<revision>`` pointing at it)."""
        sha = sha or "0123456789abcdef0123456789abcdef01234567"
        repo = self.path / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / sha
        shutil.copytree(src, snapshot, dirs_exist_ok=True)
        if revision != sha:
            (repo / "refs").mkdir(parents=True, exist_ok=True)
            (repo / "refs" / revision).write_text(sha)
        return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> HubCache:
    """An offline Hugging Face cache (``HF_HUB_CACHE``) that starts empty."""
    cache = tmp_path / "hub_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return HubCache(cache)
