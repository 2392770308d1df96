"""Prompt sets for the experiment runner: UCF-101, MSR-VTT and custom prompt files.

``load_prompts(dataset, path=..., limit=..., shard=..., num_shards=..., caption_seed=...)`` returns
a list of :class:`Prompt` ``(id, text, dataset)``. The same arguments and the same file give the same
prompts, in the same order, on every machine.

Prompt sets (:data:`PROMPT_SETS`, name -> loader):

* ``ucf101``: freqlab's own prompt file shipped with the package, ``ucf101_prompts_v1.txt``
  (version :data:`UCF101_PROMPTS_VERSION`): one descriptive prompt for each of the 101 UCF-101
  classes, in the official ``classInd.txt`` order; ids ``"ucf101/ApplyEyeMakeup"``. The FreeInit
  paper's prompts were never released; the file header says how ours were written. ``path=`` may
  name a replacement file in the same format (``ClassName<TAB>prompt`` lines, ``#`` comments) for
  the same 101 classes in the same order.
* ``msrvtt``: one caption per MSR-VTT test video; ``path=`` is required and names either

  - the official annotation file ``test_videodatainfo.json`` (a JSON object with ``"videos"``:
    ``[{"video_id": "video7010", "split": "test", ...}]`` and ``"sentences"``:
    ``[{"sen_id": <int>, "video_id": "video7010", "caption": "..."}]``): the videos with
    ``split == "test"`` (the official test split, ``video7010`` to ``video9999``, 2,990 videos with
    about 20 captions each); a file of the same layout holding other splits too is fine;
  - or the 1k-A retrieval test file ``MSRVTT_JSFUSION_test.csv`` (header
    ``key,vid_key,video_id,sentence``, one caption per video): every row.

  The format is detected from the content (JSON, or a CSV with those columns; a ``.json`` suffix
  always means JSON). Ids are ``"msrvtt/video7010"``, sorted by video number.
* ``custom``: a UTF-8 text file, one prompt per line; blank lines and lines starting with ``#`` are
  skipped (a ``#`` later in a line is part of the prompt). Ids are ``"custom/0000"``,
  ``"custom/0001"``, ...: the prompt's index among the file's prompts, in file order. A line may
  give per-frame prompts (FreeNoise's multi-prompt): ``0: a corgi on grass | 32: a corgi on
  snow``, keyframes from frame 0 in increasing order (:func:`parse_keyframes`,
  :attr:`Prompt.keyframes`).

Caption choice (``msrvtt``): a video's captions are ordered by ``sen_id`` (JSON) or by row (CSV),
and the one at index ``int(sha256(f"{caption_seed}:{video_id}")[:8 bytes]) % len(captions)`` is
used. The choice depends only on ``caption_seed``, the video id and that video's captions: not on
the order of the file, other videos, ``limit`` or sharding, Python's hash seed or any global RNG.
Other ``caption_seed`` values give other, equally deterministic caption sets.

Selection, applied after loading the whole set (``n`` prompts in the order above):

1. ``limit=k`` keeps ``k`` prompts spread evenly over the set, the indices ``i * n // k`` for
   ``i = 0 .. k-1`` (so ``ucf101`` with ``limit=10`` gives ApplyEyeMakeup, Biking, CleanAndJerk,
   ...; not the first ten classes). ``limit=None`` or ``limit >= n`` keeps all ``n``.
2. ``shard=s`` of ``num_shards=m`` keeps every ``m``-th of those prompts starting at index ``s``.
   Shards are disjoint, their union is the whole (limited) set, their sizes differ by at most one,
   and a shard may be empty when ``m`` exceeds the number of prompts.

A new set is added by writing a loader ``(path: Path | None, caption_seed: int) -> list[Prompt]``
that returns the whole set in a fixed order, and adding it to :data:`PROMPT_SETS`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from freqlab.checks import check_int

log = logging.getLogger(__name__)
# (dataset, limit, size) already reported: a job loads its prompts more than once (plan, generate).
_CAPPED: set[tuple[str, int, int]] = set()

__all__ = ["PROMPT_SETS", "UCF101_PROMPTS_VERSION", "Prompt", "load_prompts", "parse_keyframes"]

UCF101_PROMPTS_VERSION = "v1"
_UCF101_FILE = f"ucf101_prompts_{UCF101_PROMPTS_VERSION}.txt"

_MSRVTT_TEST_FIRST, _MSRVTT_TEST_LAST = 7010, 9999  # official test split: video7010 .. video9999
_MSRVTT_CSV_COLUMNS = ("key", "vid_key", "video_id", "sentence")
_MSRVTT_VIDEO_ID = re.compile(r"video(\d+)")
_MSRVTT_HELP = (
    "Expected MSR-VTT's official annotation file 'test_videodatainfo.json' (from the MSR-VTT "
    "dataset, https://www.microsoft.com/en-us/research/publication/msr-vtt-a-large-video-"
    "description-dataset-for-bridging-video-and-language/) or the 1k-A test file "
    "'MSRVTT_JSFUSION_test.csv' (in CLIP4Clip's msrvtt_data.zip, "
    "https://github.com/ArrowLuo/CLIP4Clip/releases/download/v0.0/msrvtt_data.zip); "
    "pass its location as path= (dataset.path in the runner's config)."
)


@dataclass(frozen=True)
class Prompt:
    """One text prompt of a prompt set.

    Attributes:
        id: stable identifier ``"<dataset>/<key>"``, e.g. ``"ucf101/ApplyEyeMakeup"``,
            ``"msrvtt/video7010"``, ``"custom/0003"``; unique within a set.
        text: the prompt given to the model.
        dataset: the prompt set's name, a key of :data:`PROMPT_SETS`.
    """

    id: str
    text: str
    dataset: str

    @property
    def keyframes(self) -> dict[int, str] | None:
        """Per-frame prompts ``{frame: text}`` if :attr:`text` gives them (custom prompt files
        only: other sets' captions are never read as keyframes), else None."""
        return parse_keyframes(self.text) if self.dataset == "custom" else None


_KEYFRAME = re.compile(r"^\s*(\d+)\s*:\s*(.*?)\s*$", re.DOTALL)


def parse_keyframes(text: str) -> dict[int, str] | None:
    """Per-frame prompts from ``"0: a corgi on grass | 32: a corgi on snow"``, or None for a
    plain prompt (one that does not start with ``<int>:``).

    Raises:
        ValueError: a keyframed prompt whose segments are not all ``<frame>: <text>``, with
            frames starting at 0 and increasing, and texts non-empty.
    """
    if not _KEYFRAME.match(text.split("|", 1)[0]):
        return None
    frames: dict[int, str] = {}
    for segment in text.split("|"):
        match = _KEYFRAME.match(segment)
        if match is None or not match.group(2):
            raise ValueError(
                f"per-frame prompt {text!r}: each '|'-separated part must be '<frame>: <text>', "
                f"got {segment.strip()!r}"
            )
        frame = int(match.group(1))
        if (not frames and frame != 0) or (frames and frame <= max(frames)):
            raise ValueError(
                f"per-frame prompt {text!r}: keyframes must start at frame 0 and increase, got "
                f"{[*frames, frame]}"
            )
        frames[frame] = match.group(2)
    return frames


PromptLoader = Callable[[Path | None, int], list[Prompt]]


# --- ucf101 -------------------------------------------------------------------------------------


def _parse_ucf101(text: str, source: str) -> list[Prompt]:
    """``ClassName<TAB>prompt`` lines (``#`` comments and blank lines skipped) -> prompts."""
    prompts = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(
                f"{source} line {lineno}: expected 'ClassName<TAB>prompt', got {line!r}"
            )
        name, prompt = fields[0].strip(), fields[1].strip()
        prompts.append(Prompt(id=f"ucf101/{name}", text=prompt, dataset="ucf101"))
    return prompts


def _packaged_ucf101() -> list[Prompt]:
    text = resources.files(__package__).joinpath(_UCF101_FILE).read_text(encoding="utf-8")
    return _parse_ucf101(text, f"freqlab/data/{_UCF101_FILE}")


def _load_ucf101(path: Path | None, caption_seed: int) -> list[Prompt]:
    """The packaged UCF-101 prompts, or those of a replacement file for the same classes."""
    del caption_seed  # one prompt per class: nothing to choose
    packaged = _packaged_ucf101()
    if path is None:
        return packaged
    prompts = _parse_ucf101(_read_text(path, "a 'ClassName<TAB>prompt' file"), f"path={path}")
    classes = [p.id for p in prompts]
    expected = [p.id for p in packaged]
    if classes != expected:
        missing = sorted(set(expected) - set(classes))[:5]
        extra = sorted(set(classes) - set(expected))[:5]
        raise ValueError(
            f"path={path} must list the 101 UCF-101 classes once each in classInd.txt order "
            f"(as {_UCF101_FILE}); got {len(classes)} lines, missing {missing}, unknown {extra}"
        )
    return prompts


# --- msrvtt -------------------------------------------------------------------------------------


def _choose_caption(video_id: str, captions: Sequence[str], caption_seed: int) -> str:
    """The caption of ``video_id`` picked by ``caption_seed`` (see the module docstring)."""
    digest = hashlib.sha256(f"{caption_seed}:{video_id}".encode()).digest()
    return captions[int.from_bytes(digest[:8], "big") % len(captions)]


def _video_number(video_id: Any, where: str, path: Path) -> int:
    match = _MSRVTT_VIDEO_ID.fullmatch(video_id) if isinstance(video_id, str) else None
    if match is None:
        raise ValueError(
            f"path={path}: {where}: video_id must look like 'video7010', got {video_id!r}"
        )
    return int(match.group(1))


def _caption(value: Any, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"path={path}: {where}: caption must be a non-empty string, got {value!r}")
    return value.strip()


def _msrvtt_from_json(data: Any, path: Path) -> dict[int, list[str]]:
    """``test_videodatainfo.json`` content -> {video number: captions ordered by sen_id}."""
    if not (
        isinstance(data, dict)
        and isinstance(data.get("videos"), list)
        and isinstance(data.get("sentences"), list)
    ):
        raise ValueError(
            f"path={path}: expected a JSON object with 'videos' and 'sentences' lists "
            f"(MSR-VTT test_videodatainfo.json). {_MSRVTT_HELP}"
        )
    test_videos: set[int] = set()
    for i, video in enumerate(data["videos"]):
        where = f"videos[{i}]"
        if not isinstance(video, dict) or not isinstance(video.get("split"), str):
            raise ValueError(f"path={path}: {where} must be an object with 'video_id' and 'split'")
        number = _video_number(video.get("video_id"), where, path)
        if video["split"] != "test":
            continue
        if not _MSRVTT_TEST_FIRST <= number <= _MSRVTT_TEST_LAST:
            raise ValueError(
                f"path={path}: {where}: video{number} has split 'test' but the official test split "
                f"is video{_MSRVTT_TEST_FIRST}..video{_MSRVTT_TEST_LAST}; is this the official file?"
            )
        if number in test_videos:
            raise ValueError(f"path={path}: {where}: video{number} is listed twice")
        test_videos.add(number)
    if not test_videos:
        raise ValueError(
            f"path={path}: no videos with split 'test' (train_val_videodatainfo.json holds only "
            f"train and validate videos). {_MSRVTT_HELP}"
        )

    sentences: dict[int, list[tuple[int, str]]] = {n: [] for n in test_videos}
    sen_ids: set[int] = set()
    for i, sentence in enumerate(data["sentences"]):
        where = f"sentences[{i}]"
        if not isinstance(sentence, dict):
            raise ValueError(f"path={path}: {where} must be an object, got {sentence!r}")
        sen_id = sentence.get("sen_id")
        if isinstance(sen_id, bool) or not isinstance(sen_id, int):
            raise ValueError(f"path={path}: {where}: sen_id must be an int, got {sen_id!r}")
        if sen_id in sen_ids:
            raise ValueError(f"path={path}: {where}: sen_id {sen_id} is used twice")
        sen_ids.add(sen_id)
        number = _video_number(sentence.get("video_id"), where, path)
        caption = _caption(sentence.get("caption"), where, path)
        if number in sentences:
            sentences[number].append((sen_id, caption))
    without = sorted(n for n, caps in sentences.items() if not caps)
    if without:
        raise ValueError(
            f"path={path}: test videos without captions: {[f'video{n}' for n in without[:5]]}"
        )
    return {n: [caption for _, caption in sorted(caps)] for n, caps in sentences.items()}


def _msrvtt_from_csv(text: str, path: Path) -> dict[int, list[str]]:
    """``MSRVTT_JSFUSION_test.csv`` content -> {video number: captions in row order}."""
    rows = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(rows, [])]
    if any(column not in header for column in _MSRVTT_CSV_COLUMNS):
        raise ValueError(
            f"path={path}: not a JSON object, and not a CSV with the columns "
            f"{','.join(_MSRVTT_CSV_COLUMNS)} (header {header[:6]}). {_MSRVTT_HELP}"
        )
    id_col, text_col = header.index("video_id"), header.index("sentence")
    captions: dict[int, list[str]] = {}
    for row in rows:
        if not any(field.strip() for field in row):
            continue
        where = f"CSV line {rows.line_num}"
        if len(row) != len(header):
            raise ValueError(
                f"path={path}: {where}: expected {len(header)} fields ({','.join(header)}), "
                f"got {len(row)} (quote sentences that contain commas)"
            )
        number = _video_number(row[id_col].strip(), where, path)
        captions.setdefault(number, []).append(_caption(row[text_col], where, path))
    if not captions:
        raise ValueError(f"path={path}: the CSV has a header but no rows")
    return captions


def _load_msrvtt(path: Path | None, caption_seed: int) -> list[Prompt]:
    """One caption per MSR-VTT test video (JSON) or 1k-A row's video (CSV), by video number."""
    text = _read_text(path, "an MSR-VTT annotation file", hint=_MSRVTT_HELP)
    if text.lstrip().startswith(("{", "[")) or path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"path={path}: invalid JSON ({err}). {_MSRVTT_HELP}") from None
        captions = _msrvtt_from_json(data, path)
    else:
        captions = _msrvtt_from_csv(text, path)
    return [
        Prompt(
            id=f"msrvtt/video{n}",
            text=_choose_caption(f"video{n}", captions[n], caption_seed),
            dataset="msrvtt",
        )
        for n in sorted(captions)
    ]


# --- custom -------------------------------------------------------------------------------------


def _load_custom(path: Path | None, caption_seed: int) -> list[Prompt]:
    """One prompt per non-blank, non-``#`` line of a text file."""
    del caption_seed
    text = _read_text(path, "a text file with one prompt per line")
    lines = [line.strip() for line in text.splitlines()]
    texts = [line for line in lines if line and not line.startswith("#")]
    if not texts:
        raise ValueError(f"path={path} holds no prompts (only blank lines and # comments)")
    for t in texts:
        try:
            parse_keyframes(t)
        except ValueError as err:
            raise ValueError(f"path={path}: {err}") from None
    return [Prompt(id=f"custom/{i:04d}", text=t, dataset="custom") for i, t in enumerate(texts)]


# --- shapes -------------------------------------------------------------------------------------


def _load_shapes(path: Path | None, caption_seed: int) -> list[Prompt]:
    """The 48 held-out captions of the testbed's synthetic set (none is a training caption)."""
    del path, caption_seed
    from freqlab.data.shapes import split_captions

    return [
        Prompt(id=f"shapes/{i:02d}", text=text, dataset="shapes")
        for i, text in enumerate(split_captions("heldout"))
    ]


# --- registry and entry point -------------------------------------------------------------------

PROMPT_SETS: dict[str, PromptLoader] = {
    "ucf101": _load_ucf101,
    "msrvtt": _load_msrvtt,
    "custom": _load_custom,
    "shapes": _load_shapes,
}
"""Known prompt sets: name -> loader ``(path, caption_seed) -> list[Prompt]`` (the whole set, in its
fixed order). Register a new set here."""


def _read_text(path: Path | None, expected: str, hint: str = "") -> str:
    """The UTF-8 text of the caller's ``path``, with an error naming ``path`` if there is none."""
    hint = f" {hint}" if hint else ""
    if path is None:
        raise ValueError(f"path is required: {expected}.{hint}")
    if not path.is_file():
        raise FileNotFoundError(f"path={path}: no such file; expected {expected}.{hint}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"path={path}: not UTF-8 text ({err}); expected {expected}") from None


def _select(prompts: list[Prompt], limit: int | None, shard: int, num_shards: int) -> list[Prompt]:
    """Evenly spaced ``limit`` prompts, then every ``num_shards``-th from ``shard``."""
    n = len(prompts)
    if limit is not None and limit < n:
        prompts = [prompts[i * n // limit] for i in range(limit)]
    return prompts[shard::num_shards]


def load_prompts(
    dataset: str,
    *,
    path: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    shard: int = 0,
    num_shards: int = 1,
    caption_seed: int = 0,
) -> list[Prompt]:
    """Load a prompt set, optionally limited and sharded (rules in :mod:`freqlab.data.prompts`).

    Args:
        dataset: a name in :data:`PROMPT_SETS`: ``"ucf101"``, ``"msrvtt"`` or ``"custom"``.
        path: the set's file: required for ``msrvtt`` (``test_videodatainfo.json`` or
            ``MSRVTT_JSFUSION_test.csv``) and ``custom``; for ``ucf101`` an optional replacement
            for the packaged file. ``~`` is expanded.
        limit: keep this many prompts, evenly spaced over the set (``None``: all); an int >= 1.
        shard: which shard to return, ``0 <= shard < num_shards``.
        num_shards: how many disjoint shards the (limited) set is split into; an int >= 1.
        caption_seed: picks one caption per ``msrvtt`` video; unused by the other sets.

    Returns:
        The prompts of the shard, in set order; empty if the shard has none.

    Raises:
        ValueError: an unknown ``dataset``, an invalid ``limit``/``shard``/``num_shards``/
            ``caption_seed``, a missing ``path`` where one is required, or a malformed file.
        FileNotFoundError: ``path`` names no file.
    """
    if not isinstance(dataset, str) or dataset not in PROMPT_SETS:
        raise ValueError(f"dataset must be one of {sorted(PROMPT_SETS)}, got {dataset!r}")
    if limit is not None:
        check_int("limit", limit, 1)
    check_int("num_shards", num_shards, 1)
    check_int("shard", shard, 0)
    if shard >= num_shards:
        raise ValueError(f"shard must be < num_shards={num_shards}, got {shard}")
    if isinstance(caption_seed, bool) or not isinstance(caption_seed, int):
        raise ValueError(f"caption_seed must be an int, got {caption_seed!r}")
    if path is not None and not isinstance(path, str | os.PathLike):
        raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    file = Path(os.fspath(path)).expanduser() if path is not None else None
    prompts = PROMPT_SETS[dataset](file, caption_seed)
    if limit is not None and limit > len(prompts) and (dataset, limit, len(prompts)) not in _CAPPED:
        _CAPPED.add((dataset, limit, len(prompts)))
        log.warning(
            "limit=%d exceeds the %d prompts of %s: all %d are used",
            limit,
            len(prompts),
            dataset,
            len(prompts),
        )
    return _select(prompts, limit, shard, num_shards)
