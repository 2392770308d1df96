"""Where pretrained weights come from, and one clear error when they are not there.

A real model is built from one or more *sources*: a Hugging Face hub repository (``org/name``,
revision pinnable) or a local directory / file. Each source provides some *components* (a
pipeline's ``vae``, ``unet``, ``text_encoder``, ...), read from a subfolder as diffusers and
transformers lay them out. :func:`resolve_source` turns a source into a local directory:

* a local path is checked for the files the components need;
* a hub repository is looked up in the Hugging Face cache first (``snapshot_download(...,
  local_files_only=True)``, no network). Only when the hub is allowed (``HF_HUB_OFFLINE`` unset and
  ``local_files_only`` false) are the missing files downloaded, restricted to the components' files.

Everything is checked before diffusers or transformers see a path, so offline a missing model fails
fast, with no network attempt, with a :class:`~freqlab.hub.WeightsNotFoundError` (the one error
for missing weights, evaluation models' included) that names the repositories, the exact
``hf download`` command and how to point the config at a local copy.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from freqlab.hub import WeightsNotFoundError

__all__ = [
    "Component",
    "HubSource",
    "MissingSource",
    "ResolvedSource",
    "WeightsNotFoundError",
    "missing_files",
    "parse_source",
    "resolve_source",
    "source_fingerprint",
    "weights_not_found",
]

# File stems of single-file weights: diffusers models, transformers models.
_STEMS = {"diffusers": ("diffusion_pytorch_model", "diffusion_pytorch_model"),
          "transformers": ("model", "pytorch_model")}  # fmt: skip
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "spiece.model", "tokenizer.model")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Where the error message suggests `hf download --local-dir` to put a repository.
LOCAL_MODELS_DIR = "./models"


@dataclass(frozen=True)
class Component:
    """One pipeline component read from a source.

    Attributes:
        name: the pipeline argument it becomes (``"vae"``, ``"unet"``, ``"motion_adapter"``).
        cls: the class name that loads it, e.g. ``"AutoencoderKL"`` (resolved by the builder).
        subfolder: its folder inside the source (``None``: the source's root).
        kind: ``"diffusers"`` or ``"transformers"`` model (config + weights), ``"tokenizer"``, or
            ``"config"``: a component that is a config file only (HunyuanVideo 1.5's
            ``guider``, a ByT5 tokenizer, which has no vocabulary file).
        dtype: a dtype it always keeps (e.g. ``"float32"`` for Wan's VAE), else the model's dtype.
    """

    name: str
    cls: str
    subfolder: str | None
    kind: str = "diffusers"
    dtype: str | None = None

    def prefix(self, subfolder: str | None = None) -> str:
        sub = self.subfolder if subfolder is None else subfolder
        return f"{sub}/" if sub else ""


@dataclass(frozen=True)
class HubSource:
    """A hub repository that provides some components of a model.

    Attributes:
        repo_id: ``org/name`` on the Hugging Face hub.
        components: what is read from it.
        revision: branch, tag or commit (``None``: ``main``).
        safetensors: the repository has safetensors weights: only those are downloaded, and a
            component is read with ``use_safetensors=True`` wherever its folder has them.
            ``False`` (the repository only has pickled ``.bin`` files): those are downloaded.
            Either way a component missing in the preferred format falls back to the other.
        note: what the repository is, in a few words (shown in the error message).
    """

    repo_id: str
    components: tuple[Component, ...]
    revision: str | None = None
    safetensors: bool = True
    note: str = ""


@dataclass(frozen=True)
class ResolvedSource:
    """A source turned into local files: what the builder loads components from.

    ``subfolders`` maps a component name to the subfolder it was found in, when that differs from
    the component's declared one (e.g. a UNet saved at the root of a directory).
    """

    path: Path
    origin: str
    subfolders: dict[str, str | None] = field(default_factory=dict)
    commit: str | None = None  # the hub snapshot's commit (None for local copies)

    def subfolder(self, component: Component) -> str | None:
        return self.subfolders.get(component.name, component.subfolder)


@dataclass(frozen=True)
class MissingSource:
    """Why one source could not be resolved (collected into one :class:`WeightsNotFoundError`)."""

    role: str
    repo_id: str | None
    revision: str | None
    detail: str
    include: tuple[str, ...] = ()
    reason: BaseException | None = None
    note: str = ""


# --------------------------------------------------------------------------- environment


# --------------------------------------------------------------------------- files

WEIGHT_FORMATS = ("safetensors", "bin")


def _weight_patterns(component: Component, variant: str | None, fmt: str) -> list[str]:
    """Single-file and sharded weight names of a component in format ``fmt`` (or ``"any"``)."""
    st_stem, bin_stem = _STEMS[component.kind]
    v = f".{variant}" if variant else ""
    patterns = []
    if fmt in ("safetensors", "any"):
        patterns += [f"{st_stem}{v}.safetensors", f"{st_stem}{v}-*.safetensors"]
    if fmt in ("bin", "any"):
        patterns += [f"{bin_stem}{v}.bin", f"{bin_stem}{v}-*.bin"]
    return patterns


def component_patterns(
    component: Component, variant: str | None, fmt: str = "any", subfolder: str | None = None
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The files a component needs, relative to its source's root.

    Args:
        fmt: weight format to include: ``"safetensors"``, ``"bin"`` or ``"any"``.
        subfolder: where the component actually is, if not its declared subfolder.

    Returns:
        ``(include, required)``: glob patterns to download, and ``(label, patterns)`` groups of
        which each must match at least one file (config; weights in either format, single or
        sharded; tokenizer files).
    """
    prefix = component.prefix(subfolder)
    if component.kind == "tokenizer":
        names = [prefix + name for name in _TOKENIZER_FILES]
        return [f"{prefix}*"], [(" or ".join(names), names)]
    if component.kind == "config":
        return [f"{prefix}*.json"], [(f"{prefix}*config.json", [f"{prefix}*config.json"])]
    include = [f"{prefix}*.json"] + [prefix + p for p in _weight_patterns(component, variant, fmt)]
    weights = [prefix + p for p in _weight_patterns(component, variant, "any")]
    label = f"{weights[0]} (or .bin / sharded weights)"
    return include, [(f"{prefix}config.json", [f"{prefix}config.json"]), (label, weights)]


def source_patterns(
    components: Iterable[Component], variant: str | None, fmt: str
) -> tuple[str, ...]:
    """The ``allow_patterns`` (``hf download --include``) for all of a source's components."""
    patterns: list[str] = []
    for component in components:
        for pattern in component_patterns(component, variant, fmt)[0]:
            if pattern not in patterns:
                patterns.append(pattern)
    return tuple(patterns)


def has_safetensors(root: Path, component: Component, subfolder: str | None = None) -> bool:
    """Whether the component's folder holds safetensors weights (then only those are read)."""
    folder = root / (component.subfolder if subfolder is None else subfolder or "")
    return any(folder.glob("*.safetensors"))


def _matches(root: Path, pattern: str) -> bool:
    """Whether a file (not a broken link) matches ``pattern`` under ``root`` (one folder deep
    per pattern, so pointing at a huge directory by mistake stays cheap)."""
    return any(path.is_file() for path in root.glob(pattern))


def missing_files(
    root: Path,
    components: Iterable[Component],
    variant: str | None,
    subfolders: dict[str, str | None] | None = None,
) -> list[str]:
    """Required files with no match under ``root`` (empty when everything is there); weights
    count in either format."""
    missing = []
    for component in components:
        sub = (subfolders or {}).get(component.name)
        _, required = component_patterns(component, variant, "any", sub)
        for label, group in required:
            if not any(_matches(root, pattern) for pattern in group):
                missing.append(label)
    return missing


def _root_or_subfolder(root: Path, component: Component) -> str | None:
    """For a component stored at a source's root (``subfolder=None``), accept the same files in a
    subfolder named after the component (a full pipeline directory), and vice versa."""
    if component.kind in ("tokenizer", "config"):
        return component.subfolder
    if component.subfolder is None and not (root / "config.json").is_file():
        if (root / component.name / "config.json").is_file():
            return component.name
    return component.subfolder


# --------------------------------------------------------------------------- sources


def parse_source(value: str | os.PathLike) -> tuple[str, str | None] | Path:
    """A user-given source: an existing local path, or a hub id ``org/name`` (``@revision``
    optional). Anything else is taken as a local path (which will be reported missing)."""
    text = os.fspath(value)
    path = Path(text).expanduser()
    if path.exists() or text.startswith((".", "/", "~")) or "\\" in text:
        return path
    repo, _, revision = text.partition("@")
    if _HUB_ID.match(repo):
        return repo, (revision or None)
    return path


def resolve_local(
    role: str, path: Path, components: Sequence[Component], variant: str | None
) -> ResolvedSource | MissingSource:
    """Check a local directory (or single file) for the components' files."""
    if not path.exists():
        return MissingSource(role, None, None, f"local path {path} does not exist")
    if path.is_file():
        # Single files are only meaningful for some components; the builder decides.
        return ResolvedSource(path, f"local file {path}")
    subfolders = {c.name: _root_or_subfolder(path, c) for c in components}
    missing = missing_files(path, components, variant, subfolders)
    if missing:
        return MissingSource(role, None, None, f"local directory {path} lacks {'; '.join(missing)}")
    return ResolvedSource(path, f"local directory {path}", subfolders)


def _cached_snapshot(
    repo_id: str, revision: str | None, cache_dir: Path, patterns: tuple[str, ...]
) -> tuple[Path | None, BaseException | None]:
    """The cached snapshot folder of ``repo_id@revision``, without any network access."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=list(patterns),
            local_files_only=True,
        )
    except Exception as err:  # LocalEntryNotFoundError, incomplete snapshot, bad cache, ...
        return None, err
    return Path(folder), None


def _download(
    repo_id: str, revision: str | None, cache_dir: Path, patterns: tuple[str, ...]
) -> tuple[Path | None, BaseException | None]:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=list(patterns)
        )
    except Exception as err:  # connection, 404, gated repo, disk full, ...
        return None, err
    return Path(folder), None


def _short(err: BaseException | None) -> str:
    if err is None:
        return ""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


def _formats(source: HubSource) -> tuple[str, str]:
    return ("safetensors", "bin") if source.safetensors else ("bin", "safetensors")


def resolve_hub(
    role: str,
    source: HubSource,
    revision: str | None,
    variant: str | None,
    cache_dir: Path,
    offline: str | None,
) -> ResolvedSource | MissingSource:
    """A hub source as a local snapshot folder: from the cache, else downloaded (when online).

    ``offline`` says why downloads are disabled (e.g. ``"HF_HUB_OFFLINE=1"``), or is ``None``.

    Online, the files of the preferred weight format are downloaded; components the repository
    lacks in that format are then fetched in the other one.
    """
    preferred, fallback = _formats(source)
    patterns = source_patterns(source.components, variant, preferred)
    where = f"{source.repo_id}@{revision}" if revision else source.repo_id
    folder, err = _cached_snapshot(source.repo_id, revision, cache_dir, patterns)
    missing = missing_files(folder, source.components, variant) if folder is not None else []
    if folder is not None and not missing:
        return ResolvedSource(folder, f"hub {where} (cache {folder})", commit=folder.name)
    if offline:
        detail = (
            f"incomplete in the Hugging Face cache at {cache_dir} (no {'; '.join(missing)})"
            if folder is not None
            else f"not in the Hugging Face cache at {cache_dir}"
        )
        detail += f"; downloads are disabled ({offline})"
        return MissingSource(role, source.repo_id, revision, detail, patterns, err, source.note)
    folder, err = _download(source.repo_id, revision, cache_dir, patterns)
    if folder is None:
        detail = (
            f"not in the Hugging Face cache at {cache_dir}, and downloading failed ({_short(err)})"
        )
        return MissingSource(role, source.repo_id, revision, detail, patterns, err, source.note)
    missing = missing_files(folder, source.components, variant)
    if missing:
        lacking = [c for c in source.components if missing_files(folder, [c], variant)]
        folder, err = _download(
            source.repo_id, revision, cache_dir, source_patterns(lacking, variant, fallback)
        )
        missing = missing_files(folder, source.components, variant) if folder else missing
    if folder is None or missing:
        detail = f"downloaded, but the repository has no {'; '.join(missing)} ({_short(err)})"
        return MissingSource(role, source.repo_id, revision, detail, patterns, err, source.note)
    return ResolvedSource(folder, f"hub {where} (downloaded to {folder})", commit=folder.name)


def resolve_source(
    role: str,
    source: HubSource,
    override: str | os.PathLike | None,
    revision: str | None,
    variant: str | None,
    cache_dir: Path,
    offline: str | None,
) -> ResolvedSource | MissingSource:
    """Resolve one role of a model: the user's ``override`` (local path or hub id), else the
    spec's hub source at ``revision``."""
    if override is not None:
        parsed = parse_source(override)
        if isinstance(parsed, Path):
            return resolve_local(role, parsed, source.components, variant)
        repo_id, at_revision = parsed
        source = HubSource(
            repo_id, source.components, source.revision, source.safetensors, source.note
        )
        revision = at_revision or revision
    return resolve_hub(role, source, revision or source.revision, variant, cache_dir, offline)


# --------------------------------------------------------------------------- fingerprints


def _listing(path: Path) -> list[tuple[str, int, int]]:
    """``(relative name, size, mtime_ns)`` of the files of a local copy: ``path`` itself, or
    the files in a directory and its subfolders (diffusers keeps each component one level down;
    deeper levels are not weights). Hidden files are left out (editor and download leftovers)."""
    if path.is_file():
        stat = path.stat()
        return [(path.name, stat.st_size, stat.st_mtime_ns)]
    out = []
    for file in sorted([*path.glob("*"), *path.glob("*/*")]):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        stat = file.stat()
        out.append((rel.as_posix(), stat.st_size, stat.st_mtime_ns))
    return out


def source_fingerprint(source: ResolvedSource) -> str:
    """What identifies a resolved source's weights, without reading them: the snapshot's commit
    for a hub repository (``main`` moving to a new commit changes it), else 16 hex digits of a
    digest of the local copy's file names, sizes and modification times (replacing a file
    changes it)."""
    if source.commit is not None:
        return source.commit
    digest = hashlib.sha256(repr(_listing(source.path)).encode()).hexdigest()[:16]
    return f"local:{digest}"


# --------------------------------------------------------------------------- the error


def _quote(text: str) -> str:
    return f'"{text}"'


def download_command(repo_id: str, revision: str | None, include: Sequence[str] = ()) -> str:
    """``hf download <id> [--revision R] --local-dir ./models/<name> [--include ...]``."""
    parts = ["hf", "download", repo_id]
    if revision:
        parts += ["--revision", revision]
    parts += ["--local-dir", local_dir_for(repo_id)]
    for pattern in include:
        parts += ["--include", _quote(pattern)]
    return " ".join(parts)


def local_dir_for(repo_id: str) -> str:
    """Where the message suggests downloading ``repo_id`` to: ``./models/<name>``."""
    return f"{LOCAL_MODELS_DIR}/{repo_id.split('/')[-1]}"


def weights_not_found(
    name: str, problems: Sequence[MissingSource], roles: Sequence[str], primary: str
) -> WeightsNotFoundError:
    """The one error for every missing source of model ``name``.

    ``roles`` are the model's source roles in order; ``primary`` is the one ``path=`` sets.
    """
    lines = [f"model {name!r}: pretrained weights are not available."]
    for p in problems:
        about = f"{p.note}, " if p.note else ""
        what = (
            f"{p.repo_id} ({about}revision {p.revision or 'main'})" if p.repo_id else "local copy"
        )
        lines.append(f"  - {p.role}: {what} -- {p.detail}")
    hub = [p for p in problems if p.repo_id]
    if hub:
        lines += ["", "Download them once, on a machine with internet access:"]
        lines += [f"  {download_command(p.repo_id, p.revision, p.include)}" for p in hub]
    keys = {
        p.role: local_dir_for(p.repo_id) if p.repo_id else "/path/to/local/copy" for p in problems
    }
    config = " ".join(
        f"model.{_config_key(r, roles, primary)}={keys[r]}" for r in roles if r in keys
    )
    kwargs = ", ".join(f'{_config_key(r, roles, primary)}="{keys[r]}"' for r in roles if r in keys)
    lines += [
        "",
        "then point the config at the local copy (a diffusers-format directory):",
        f"  python run.py model={name} {config}",
        f'  load_model("{name}", {kwargs})',
        "",
        "Or drop --local-dir: `hf download` then fills the Hugging Face cache "
        f"({'HF_HUB_CACHE' if os.environ.get('HF_HUB_CACHE') else 'HF_HOME'}), which load_model "
        "reads by itself, also offline (HF_HUB_OFFLINE=1).",
    ]
    reason = next((p.reason for p in problems if p.reason is not None), None)
    return WeightsNotFoundError("\n".join(lines), reason)


def _config_key(role: str, roles: Sequence[str], primary: str) -> str:
    """``path`` for a single-source model, the role name (``base``, ``adapter``) otherwise."""
    return "path" if len(roles) == 1 and role == primary else role
