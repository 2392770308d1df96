"""evaluation.report.plots: the paired change per iteration, colours per setting, legends."""

from __future__ import annotations

import numpy as np

from evaluation.report import build_report


def _errorbar_data(ax) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(x, y, colour) of each error-bar line of an axis (the data lines, not the 0 line)."""
    from matplotlib.colors import to_hex

    return [
        (
            np.asarray(line.get_xdata(), dtype=float),
            np.asarray(line.get_ydata(), dtype=float),
            to_hex(line.get_color()),
        )
        for line in ax.get_lines()
        if line.get_marker() == "o"
    ]


def test_iteration_plot_draws_the_paired_change_with_its_own_ci(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows())
    write_job(tmp_path / "1", rows(method="box", gain=3.0))
    report = build_report(tmp_path, n_resamples=300)
    fig = report.figures["metric_vs_iteration"]
    d = report.differences
    for ax, metric in zip(fig.axes, report.sweep.metrics, strict=False):
        lines = _errorbar_data(ax)
        assert len(lines) == 2
        for (_, y, _), method in zip(lines, ("gaussian", "box"), strict=True):
            own = d[(d.metric == metric) & (d.method == method)].sort_values("iteration")
            np.testing.assert_allclose(y, own.delta)  # the change, not the absolute mean
            assert y[0] == 0.0
        # the error bars are the change's own CI: they bracket y and stay near 0, far from
        # the absolute mean (about 80 for the consistency)
        segments = [c for c in ax.collections if c.get_segments()]
        for seg in (s for c in segments for s in c.get_segments()):
            assert seg[:, 1].max() < 20
    assert "paired bootstrap CI" in fig._suptitle.get_text()
    assert "Δ vs baseline" in fig.axes[0].get_ylabel()


def test_same_setting_same_colour_and_a_legend_of_drawn_lines_only(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows())
    write_job(tmp_path / "1", rows(method="box"))
    write_job(tmp_path / "2", rows(model="modelscope"))
    report = build_report(tmp_path, n_resamples=200)
    fig = report.figures["metric_vs_iteration"]
    per_panel = [[c for *_, c in _errorbar_data(ax)] for ax in fig.axes[:2]]
    assert per_panel[0] == per_panel[1] and len(set(per_panel[0])) == 3
    legend = fig.legends[0]
    assert len(legend.get_texts()) == 3
    # the motion plot: each setting keeps its colour from the iteration plot
    from matplotlib.colors import to_hex

    from evaluation.report import setting_colours

    colours = setting_colours(report.sweep)
    motion = report.figures["consistency_vs_motion"]
    for ax in motion.axes:
        for collection in ax.collections:
            label = collection.get_label()
            if label.startswith("FreeInit "):
                setting = f"{ax.get_title()}, {label.removeprefix('FreeInit ')}"
                assert to_hex(collection.get_facecolor()[0]) == to_hex(colours[setting])


def test_equal_settings_stay_visible_side_by_side(tmp_path, rows, write_job):
    # num_iters 3 and 5 share passes 0-2 (the pass-level cache): equal values, both drawn
    five = rows(num_iters=5)
    three = five[five.iteration < 3].assign(num_iters=3, is_final=lambda f: f.iteration == 2)
    three = three.assign(sample_key=three.sample_key + "-3")
    write_job(tmp_path / "0", five)
    write_job(tmp_path / "1", three)
    report = build_report(tmp_path, n_resamples=200)
    lines = _errorbar_data(report.figures["metric_vs_iteration"].axes[0])
    (x5, y5, c5), (x3, y3, c3) = lines
    np.testing.assert_allclose(y5[:3], y3)
    assert c5 != c3 and np.all(x5[:3] != x3)  # offset along x, not hidden behind each other
    assert len(report.figures["metric_vs_iteration"].legends[0].get_texts()) == 2
