"""The report as one self-contained HTML page: it opens from the file system, offline, no server.

It holds the tables and plots of :mod:`evaluation.report`, a gallery (per setting, each sampled
video's baseline beside its last FreeInit pass, with its metric values) and the sweep's config.
Plots and videos are inlined as data URIs (``videos="copy"`` puts the videos in ``videos/`` beside
the page instead); the gallery GIFs are the ones the runner writes next to each sample
(``iter0_vs_iter<last>.gif``), scaled down to ``gallery_height`` pixels.
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

from evaluation.report import (
    CONFIG_COLUMNS,
    DATASET_NAMES,
    Delta,
    Passes,
    Report,
    Table,
    png_bytes,
    settings,
)

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0;
       color: #1d2127; background: #fafbfc; }
header, main { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { margin-top: 36px; border-bottom: 1px solid #d8dde3; }
h3 { font-size: 15px; margin: 22px 0 6px; }
nav a { margin-right: 14px; }
.meta { color: #59636e; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; background: white; }
th, td { border: 1px solid #d8dde3; padding: 3px 8px; text-align: left; white-space: nowrap; }
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
            cells.append(f"<td{cls}>{_esc(c)}</td>")
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


def _gallery_setting(
    report: Report,
    s: Passes,
    number: int,
    out: Path,
    limit: int | None,
    height: int,
    videos: str,
) -> str:
    metrics, primary = report.sweep.metrics, report.primary_metric
    last = s.passes[s.last]
    index = s.baseline.index.intersection(last.index)
    delta = (last.loc[index, primary] - s.baseline.loc[index, primary]).sort_values(
        ascending=False, kind="stable"
    )
    chosen = _pick(list(delta.index), limit)
    # A coarse-to-fine run's numbers are paired with another run's full-step iteration 0.
    base_label = "iteration 0" if s.baseline_source == "iteration 0" else "baseline"
    cards = []
    for prompt_id, seed in chosen:
        row = last.loc[(prompt_id, seed)]
        base = s.baseline.loc[(prompt_id, seed)]
        gif = (
            Path(row.video_path).parent / f"iter0_vs_iter{s.last}.gif"
            if isinstance(row.video_path, str)
            else None
        )
        if gif is not None and gif.is_file():
            data, w, h = gif_thumbnail(gif, height)
            if videos == "copy":
                name = f"videos/{number:03d}_{row.sample_key}_{gif.name}"
                (out / "videos").mkdir(exist_ok=True)
                (out / name).write_bytes(data)
                src = name
            else:
                src = _data_uri(data, "image/gif")
            shown = max(h, 128)  # tiny test videos are scaled up, pixelated
            width = round(w * shown / h)
            style = f"height:{shown}px;" + ("image-rendering:pixelated;" if h < 128 else "")
            media = (
                f'<img class="video" src="{src}" style="{style}" alt="{_esc(prompt_id)} seed '
                f'{seed}: iteration 0 beside iteration {s.last}">'
                f'<div class="labels" style="width:{width}px"><span>iteration 0</span>'
                f"<span>iteration {s.last}</span></div>"
            )
        else:
            media = f'<p class="note">video not on disk: {_esc(gif)}</p>'
        lines = "".join(
            f'<tr><td>{_esc(m)}</td><td class="num">{base[m]:.4g}</td>'
            f'<td class="num">{row[m]:.4g}</td><td class="num">{row[m] - base[m]:+.3g}</td></tr>'
            for m in metrics
        )
        cards.append(
            f'<div class="card">{media}<p class="prompt"><b>{_esc(prompt_id)}</b>, seed '
            f"{_esc(seed)}: {_esc(row.prompt)}</p><table><thead><tr><th>metric</th>"
            f"<th>{base_label}</th><th>iteration {s.last}</th><th>Δ</th></tr></thead>"
            f"<tbody>{lines}</tbody></table></div>"
        )
    note = (
        f"{len(chosen)} of {len(index)} videos, ordered by Δ {primary} (largest gain first)"
        + ("" if len(chosen) == len(index) else ", evenly spread")
        + f". Baseline: {s.baseline_source}."
    )
    return (
        f'<h3>{_esc(report.sweep.label(s.setting))}</h3><p class="note">{_esc(note)}</p>'
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
        for i, s in enumerate(settings(sweep))
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
    path.write_text(page, encoding="utf-8")
    return path
