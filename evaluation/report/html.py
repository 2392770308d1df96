"""The report as one self-contained HTML page: it opens from the file system, offline, no server.

It holds the tables and plots of :mod:`evaluation.report`, a gallery (per setting, each sampled
video's baseline beside its last FreeInit pass, with its metric values) and the sweep's config.
Plots and videos are inlined as data URIs (``videos="copy"`` puts the videos in ``videos/`` beside
the page instead); the gallery shows each sample's ``comparison_path`` GIF (pass 0 beside the
last pass, as the runner writes it), or for one-pass runs its only video (``video_path``), both
resolved against the folder of the results file and scaled down to ``gallery_height`` pixels.
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report.build import Report
from evaluation.report.pairing import Passes, setting_passes
from evaluation.report.plots import png_bytes
from evaluation.report.tables import Delta, Table
from evaluation.results import CONFIG_COLUMNS, DATASET_NAMES
from freqlab.atomic import write_atomic

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0;
       color: #1d2127; background: #fafbfc; }
header, main { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { margin-top: 36px; border-bottom: 1px solid #d8dde3; }
h3 { font-size: 15px; margin: 22px 0 6px; }
nav a { margin-right: 14px; }
.meta { color: #59636e; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; background: white; }
th, td { border: 1px solid #d8dde3; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { white-space: normal; min-width: 4em; max-width: 14em; vertical-align: bottom; }
th { background: #eef1f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pos { color: #0a6b2d; font-weight: 600; } td.neg { color: #a4161a; font-weight: 600; }
p.note { color: #59636e; font-size: 12px; margin: 4px 0; }
img.plot { max-width: 100%; border: 1px solid #d8dde3; background: white; }
.gallery { display: flex; flex-wrap: wrap; gap: 14px; }
.card { background: white; border: 1px solid #d8dde3; border-radius: 6px; padding: 8px;
        max-width: 560px; }
.card img { display: block; margin-bottom: 4px; }
.card .labels { display: flex; justify-content: space-around; color: #59636e; font-size: 12px; }
.card .prompt { font-size: 13px; margin: 4px 0; max-width: 520px; white-space: normal; }
.card table { font-size: 12px; }
pre { background: #f3f5f7; padding: 8px; overflow-x: auto; font-size: 12px; }
details { margin: 8px 0; }
"""


_NUMBER = re.compile(r"^[+-]?\d[\d./]*( \(.*\))?$")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table_html(table: Table) -> str:
    """A report table as an HTML table; significant differences coloured by sign."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for c in row:
            classes = ["num"] if isinstance(c, Delta) or _NUMBER.match(str(c)) else []
            if isinstance(c, Delta) and c.significant:
                classes.append("pos" if c.delta > 0 else "neg")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            text = _esc(c)
            if isinstance(c, Delta) and " [" in text:  # the interval on its own line
                text = text.replace(" [", "<br>[", 1)
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in table.notes)
    return (
        f'<h3 id="{_esc(table.name)}">{_esc(table.title)}</h3><div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{notes}"
    )


def gif_thumbnail(path: Path, height: int) -> tuple[bytes, int, int]:
    """A GIF's bytes, scaled down to ``height`` pixels if taller (0: as is); and its size."""
    from PIL import Image, ImageSequence

    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        w, h = image.size
        if not height or h <= height:
            return data, w, h
        size = (max(1, round(w * height / h)), height)
        frames, durations = [], []
        for frame in ImageSequence.Iterator(image):
            durations.append(frame.info.get("duration", image.info.get("duration", 125)))
            frames.append(frame.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0
    )
    return buffer.getvalue(), *size


def _pick(order: list[Any], limit: int | None) -> list[Any]:
    """``limit`` items evenly spread over ``order`` (all when None or enough)."""
    if limit is None or len(order) <= limit:
        return order
    return [order[i] for i in np.unique(np.linspace(0, len(order) - 1, limit).round().astype(int))]


def mp4_thumbnail(path: Path, height: int, max_frames: int = 64) -> tuple[bytes, int, int]:
    """An MP4 as GIF bytes (at most ``max_frames`` frames, scaled down to ``height`` pixels if
    taller; 0: as is), for a one-pass run with no comparison GIF; and its size."""
    import imageio.v3 as iio
    from PIL import Image

    frames = iio.imread(path, plugin="pyav")[:max_frames]  # (T, H, W, 3) uint8
    fps = float(iio.immeta(path, plugin="pyav").get("fps") or 8.0)
    images = [Image.fromarray(f) for f in frames]
    w, h = images[0].size
    if height and h > height:
        size = (max(1, round(w * height / h)), height)
        images = [i.resize(size, Image.Resampling.LANCZOS) for i in images]
        w, h = size
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
    )
    return buffer.getvalue(), w, h


def _media(
    data: bytes, w: int, h: int, captions: list[str], alt: str, name: str, out: Path, videos: str
) -> str:
    """An ``<img>`` of a GIF (inline or copied to ``out/videos``) with captions under it."""
    if videos == "copy":
        (out / "videos").mkdir(exist_ok=True)
        write_atomic(out / "videos" / name, data)
        src = f"videos/{name}"
    else:
        src = _data_uri(data, "image/gif")
    shown = max(h, 128)  # tiny test videos are scaled up, pixelated
    width = round(w * shown / h)
    style = f"height:{shown}px;" + ("image-rendering:pixelated;" if h < 128 else "")
    spans = "".join(f"<span>{_esc(c)}</span>" for c in captions)
    return (
        f'<img class="video" src="{src}" style="{style}" alt="{_esc(alt)}">'
        f'<div class="labels" style="width:{width}px">{spans}</div>'
    )


def _gallery_setting(
    report: Report,
    s: Passes,
    number: int,
    out: Path,
    limit: int | None,
    height: int,
    videos: str,
) -> str:
    sweep = report.sweep
    metrics, primary = sweep.metrics, report.primary_metric
    last = s.passes[s.last]
    one_pass = s.last == 0
    index = s.baseline.index.intersection(last.index)
    # Prompt order, not a ranking: a rise in consistency is not necessarily a gain (it also
    # comes with lost motion or content), so no Δ decides which videos are shown first.
    chosen = _pick(sorted(index), limit)
    # A coarse-to-fine run's numbers are paired with another run's full-step iteration 0.
    base_label = "iteration 0" if s.baseline_source == "iteration 0" else "baseline"
    cards = []
    for prompt_id, seed in chosen:
        row = last.loc[(prompt_id, seed)]
        base = s.baseline.loc[(prompt_id, seed)]
        column = "video_path" if one_pass else "comparison_path"
        file = sweep.video_file(row, column)
        stem = f"{number:03d}_{row.sample_key}"
        if file is not None and file.is_file():
            if one_pass:
                data, w, h = mp4_thumbnail(file, height)
                captions, name = ["iteration 0 (the only pass)"], f"{stem}_iter0.gif"
            else:
                data, w, h = gif_thumbnail(file, height)
                captions, name = ["iteration 0", f"iteration {s.last}"], f"{stem}_{file.name}"
            alt = f"{prompt_id} seed {seed}: " + " beside ".join(captions)
            media = _media(data, w, h, captions, alt, name, out, videos)
        elif file is None:
            media = '<p class="note">no video saved for this sample (save_videos=false)</p>'
        else:
            media = f'<p class="note">video not on disk: {_esc(file)}</p>'
        if one_pass:
            head = "<th>metric</th><th>iteration 0</th>"
            lines = "".join(
                f'<tr><td>{_esc(m)}</td><td class="num">{row[m]:.4g}</td></tr>' for m in metrics
            )
        else:
            head = f"<th>metric</th><th>{base_label}</th><th>iteration {s.last}</th><th>Δ</th>"
            lines = "".join(
                f'<tr><td>{_esc(m)}</td><td class="num">{base[m]:.4g}</td>'
                f'<td class="num">{row[m]:.4g}</td>'
                f'<td class="num">{row[m] - base[m]:+.3g}</td></tr>'
                for m in metrics
            )
        cards.append(
            f'<div class="card">{media}<p class="prompt"><b>{_esc(prompt_id)}</b>, seed '
            f"{_esc(seed)}: {_esc(row.prompt)}</p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{lines}</tbody></table></div>"
        )
    shown = f"{len(chosen)} of {len(index)} videos in prompt and seed order" + (
        "" if len(chosen) == len(index) else ", evenly spread (not ranked by any metric)"
    )
    if one_pass:
        note = f"{shown}. One sampling pass: no FreeInit refinement to compare with."
    else:
        note = (
            f"{shown}. Each card: iteration 0 beside iteration {s.last}, and every metric's change. "
            f"A higher {primary} is not necessarily better: it also rises when a video loses "
            f"motion or content (see the motion column). Baseline: {s.baseline_source}."
        )
    return (
        f'<h3>{_esc(sweep.label(s.setting))}</h3><p class="note">{_esc(note)}</p>'
        f'<div class="gallery">{"".join(cards)}</div>'
    )


def _config_html(report: Report) -> str:
    import yaml

    sweep = report.sweep
    parts = []
    for path, text in sweep.sweep_configs.items():
        try:
            hydra = (yaml.safe_load(text) or {}).get("hydra", {})
        except yaml.YAMLError:
            hydra = {}
        task = (hydra.get("overrides") or {}).get("task") or []
        params = (hydra.get("sweeper") or {}).get("params") or {}
        command = "python run.py -m " + " ".join(str(t) for t in task)
        parts.append(f"<p>Sweep <code>{_esc(path)}</code>:</p><pre>{_esc(command)}</pre>")
        if params:
            lines = "\n".join(f"{k}: {v}" for k, v in params.items())
            parts.append(f"<p>Sweeper parameters (from the preset):</p><pre>{_esc(lines)}</pre>")
    rows = []
    for job in sweep.jobs:
        summary = job.summary
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{_esc(v)}</td>"
                for v in (
                    job.path,
                    " ".join(job.overrides),
                    job.rows,
                    summary.get("samples", ""),
                    summary.get("generated", ""),
                    summary.get("cached", ""),
                    summary.get("unet_calls", ""),
                    summary.get("seconds", ""),
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "job",
            "overrides",
            "rows",
            "samples",
            "generated",
            "cached",
            "UNet calls",
            "seconds",
        )
    )
    parts.append(
        f'<h3>Jobs</h3><div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    setting_rows = []
    frame = sweep.frame
    for _, g in frame.groupby("_setting", sort=False):
        first = g.iloc[0]
        setting_rows.append(
            f"<tr><td>{_esc(sweep.label(first))}</td><td>{g.sample_key.nunique()}</td>"
            f"<td>{int(g.iteration.max()) + 1}</td><td>{g._job.nunique()}</td></tr>"
        )
    parts.append(
        '<h3>Settings</h3><div class="scroll"><table><thead><tr><th>setting</th><th>videos</th>'
        f"<th>passes</th><th>jobs</th></tr></thead><tbody>{''.join(setting_rows)}</tbody></table>"
        "</div>"
    )
    shared = [c for c in CONFIG_COLUMNS if c not in sweep.setting_columns]
    lines = "\n".join(f"{c}: {frame[c].iloc[0]}" for c in shared)
    parts.append(f"<h3>Shared by every setting</h3><pre>{_esc(lines)}</pre>")
    first_config = next((j for j in sweep.jobs if j.config), None)
    if first_config is not None:
        parts.append(
            f"<details><summary>Resolved config of the first job ({_esc(first_config.path)})"
            f"</summary><pre>{_esc(first_config.config)}</pre></details>"
        )
    for path, text in sweep.sweep_configs.items():
        parts.append(f"<details><summary>{_esc(path)}</summary><pre>{_esc(text)}</pre></details>")
    return "".join(parts)


def render_html(
    report: Report,
    out: Path,
    *,
    gallery: int | None = 8,
    gallery_height: int = 256,
    videos: str = "inline",
) -> str:
    """The page's HTML. ``out`` is where it will live (``videos="copy"`` writes there)."""
    if videos not in ("inline", "copy"):
        raise ValueError(f"videos must be 'inline' or 'copy', got {videos!r}")
    sweep = report.sweep
    roots = ", ".join(str(r) for r in sweep.roots)
    datasets = ", ".join(DATASET_NAMES.get(d, d) for d in dict.fromkeys(sweep.frame.dataset))
    meta = (
        f"{len(sweep.jobs)} results files, {sweep.frame._setting.nunique()} settings, "
        f"{sweep.frame.sample_key.nunique()} videos ({sweep.frame.iteration.count()} rows, "
        f"{sweep.duplicates} duplicates dropped); models {', '.join(dict.fromkeys(sweep.frame.model))}"
        f"; prompts {datasets}. Differences: paired on prompt and seed, percentile bootstrap "
        f"{report.confidence:.0%} CI over videos, {report.n_resamples} resamples, seed "
        f"{report.seed}. Written {time.strftime('%Y-%m-%d %H:%M')}."
    )
    primary = report.primary_metric
    tables = "".join(table_html(t) for t in report.tables if t.metric in (None, primary))
    for metric in report.sweep.metrics:
        if metric != primary:
            tables += (
                f"<details><summary>{_esc(metric)}</summary>"
                + "".join(table_html(t) for t in report.tables if t.metric == metric)
                + "</details>"
            )
    plots = "".join(
        f"<h3>{_esc(name.replace('_', ' '))}</h3>"
        f'<img class="plot" alt="{_esc(name)}" src="{_data_uri(png_bytes(fig), "image/png")}">'
        for name, fig in report.figures.items()
    )
    gallery_html = "".join(
        _gallery_setting(report, s, i, out, gallery, gallery_height, videos)
        for i, s in enumerate(setting_passes(sweep))
    )
    toc = "".join(f'<a href="#{_esc(t.name)}">{_esc(t.title)}</a><br>' for t in report.tables)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>freqlab report: {_esc(roots)}</title><style>{_CSS}</style></head>
<body><header><h1>freqlab report</h1><p class="meta"><code>{_esc(roots)}</code></p>
<p class="meta">{_esc(meta)}</p>
<nav><a href="#tables">Tables</a><a href="#plots">Plots</a><a href="#gallery">Gallery</a>
<a href="#config">Config</a></nav></header>
<main>
<h2 id="tables">Tables</h2><p class="meta">{_esc(primary)} first; the other metrics below it.
Markdown and LaTeX of every table: <code>tables.md</code>, <code>tables.tex</code>.</p>
<details><summary>All {len(report.tables)} tables</summary>{toc}</details>
{tables}
<h2 id="plots">Plots</h2>{plots}
<h2 id="gallery">Gallery: iteration 0 beside the last iteration</h2>{gallery_html}
<h2 id="config">Config</h2>{_config_html(report)}
</main></body></html>
"""


def write_html(
    report: Report,
    out: str | Path,
    *,
    gallery: int | None = 8,
    gallery_height: int = 256,
    videos: str = "inline",
) -> Path:
    """Write ``out/report.html`` (see the module docstring); return its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(report, out, gallery=gallery, gallery_height=gallery_height, videos=videos)
    path = out / "report.html"
    write_atomic(path, page.encode("utf-8"))
    return path
