"""evaluation.report.html: report.html, self-contained; its gallery and tables.

The Chromium test renders report.html in headless Chromium (Debian's `chromium`, installed by
`make test`) and reads the DOM back after load: every image decoded, tables and gallery present.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evaluation.report import build_report, write_report


def _chromium() -> str | None:
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )


_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-decoded", imgs.filter(i => i.complete && i.naturalWidth > 0).length);
  document.body.setAttribute("data-tables", document.querySelectorAll("table").length);
  document.body.setAttribute("data-cards", document.querySelectorAll(".card img.video").length);
});
</script></body>"""


def _render(page: Path, browser: str, profile: Path) -> dict[str, int]:
    """Load ``page`` in headless Chromium; the probe's counts after the load event."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", _PROBE))
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[-2000:]
    return {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', body.group(1))}


@pytest.mark.parametrize("videos", ["inline", "copy"])
def test_html_report_loads_in_headless_chromium(tmp_path, videos, rows, write_job):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "chromium not installed: `make test` installs Debian's chromium with apt-get when "
            "run as root (apt-get install -y chromium)"
        )
    cache = tmp_path / "cache"
    write_job(tmp_path / "sweep" / "0", rows(cache=cache), ["freeinit.method=gaussian"])
    write_job(tmp_path / "sweep" / "1", rows(freeu=True, cache=cache), ["freeu=model"])
    (tmp_path / "sweep" / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task: [experiment=freeinit_x_freeu]\n"
        "  sweeper:\n    params: {freeu: 'off,model'}\n"
    )
    report = build_report(tmp_path / "sweep", n_resamples=200)
    files = write_report(report, tmp_path / "out", gallery=4, videos=videos)
    page = files["html"].read_text()
    # self-contained: nothing from the network or outside the report folder
    sources = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert sources and all(s.startswith("data:") or s.startswith("videos/") for s in sources)
    assert page.count('class="card"') == 8  # 2 settings x 4 videos
    assert "python run.py -m experiment=freeinit_x_freeu" in page
    assert "freeu: off,model" in page and "FreeU + FreeInit" in page
    shutil.rmtree(cache)  # the report must not need the cache any more
    counts = _render(files["html"], browser, tmp_path / "profile")
    assert counts["cards"] == 8
    assert counts["images"] == 8 + len(report.figures)
    assert counts["decoded"] == counts["images"]
    assert counts["tables"] >= len(report.tables)


def test_html_resolves_relative_videos_and_shows_one_pass_runs_alone(
    tmp_path, rows, write_job, prompts
):
    sweep = tmp_path / "sweep"
    write_job(sweep / "0", rows(job=sweep / "0", prompts=prompts[:3]))
    write_job(sweep / "1", rows(job=sweep / "1", prompts=prompts[:3], num_iters=1))
    moved = tmp_path / "moved"
    shutil.move(sweep, moved)  # relative paths: the folder can move
    report = build_report(moved, n_resamples=200)
    page = write_report(report, tmp_path / "out", gallery=None)["html"].read_text()
    assert "video not on disk" not in page and "no video saved" not in page
    assert page.count('class="video"') == 6
    assert "iteration 0 | iteration 0" not in page.replace("</span><span>", " | ")
    assert page.count("<span>iteration 0 (the only pass)</span>") == 3
    assert "One sampling pass: no FreeInit refinement to compare with." in page
    assert "largest gain" not in page and "prompt and seed order" in page
    assert "not necessarily better" in page
    # a one-pass card has no Δ column
    one = page[page.index("iteration 0 (the only pass)") :]
    one = one[: one.index('<div class="card">') if '<div class="card">' in one else None]
    assert "<th>Δ</th>" not in one


def test_gallery_is_in_prompt_order_not_ranked_by_gain(tmp_path, rows, write_job, prompts):
    write_job(tmp_path / "0", rows(cache=tmp_path / "cache"))
    report = build_report(tmp_path / "0", n_resamples=200)
    page = write_report(report, tmp_path / "out", gallery=None)["html"].read_text()
    shown = re.findall(r'<p class="prompt"><b>([^<]+)</b>', page)
    assert shown == sorted(prompts)


def test_delta_table_wraps_instead_of_overflowing(tmp_path, rows, write_job):
    from evaluation.report.html import _CSS, table_html

    write_job(tmp_path / "0", rows())
    report = build_report(tmp_path, n_resamples=200)
    html = table_html(report.table("freeinit_vs_baseline"))
    assert html.count("<br>[") == len(report.sweep.metrics)  # CI under its mean
    assert "Δ motion" in html
    assert "th { white-space: normal" in _CSS


def test_every_report_file_is_written_atomically_with_the_umask(
    tmp_path, rows, write_job, monkeypatch
):
    import os

    replace, renamed = os.replace, []

    def record(src, dst, *args, **kwargs):  # every file must arrive by a rename
        renamed.append(Path(dst))
        return replace(src, dst, *args, **kwargs)

    cache = tmp_path / "cache"
    write_job(tmp_path / "sweep" / "0", rows(cache=cache), ["freeinit.method=gaussian"])
    write_job(tmp_path / "sweep" / "1", rows(freeu=True, cache=cache), ["freeu=model"])
    report = build_report(tmp_path / "sweep", n_resamples=200)
    monkeypatch.setattr(os, "replace", record)
    old = os.umask(0o022)
    try:
        files = write_report(report, tmp_path / "out", gallery=2, videos="copy")
    finally:
        os.umask(old)
    assert {"html", "results", "differences", "freeu_differences"} <= set(files)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert set(files.values()) <= set(written)
    assert any(p.parent.name == "videos" for p in written)
    assert any(p.parent.name == "tables" for p in written)
    assert all(not p.name.startswith(".") for p in written), written
    assert set(written) <= set(renamed)
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: 0o644 for p in written}
