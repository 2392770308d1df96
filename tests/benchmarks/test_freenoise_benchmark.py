"""benchmarks.freenoise: one process per configuration, plain refused past max_seq_length."""

from benchmarks.freenoise import FREENOISE, PLAIN, Result, format_table, main


def test_table_ratios_and_skipped_rows():
    results = [
        Result(PLAIN, 32, calls=10, seconds_per_call=0.1, peak_mib=20.0, rss_mib=1000.0),
        Result(FREENOISE, 32, calls=10, seconds_per_call=0.15, peak_mib=30.0, rss_mib=1010.0),
        Result(PLAIN, 64, skipped="cannot run: 64 frames > max_seq_length 32"),
        Result(FREENOISE, 64, calls=10, seconds_per_call=0.3, peak_mib=40.0, rss_mib=1020.0),
    ]
    lines = format_table(results, "peak RSS + MiB")
    assert lines[2].split() == ["plain", "32", "10", "100.00", "3.125", "20.0", "1000"]
    assert "cannot run: 64 frames > max_seq_length 32" in lines[4]
    assert "FreeNoise/plain at 32 frames: time per UNet call 1.50, peak memory 1.50" in lines
    assert "FreeNoise/plain at 64 frames: n/a (plain sampling cannot run)" in lines


def test_quick_run(capsys):
    results = main(["--quick"])
    out = capsys.readouterr().out
    assert [(r.method, r.frames) for r in results] == [
        (PLAIN, 32),
        (FREENOISE, 32),
        (PLAIN, 64),
        (FREENOISE, 64),
    ]
    skipped = results[2]
    assert skipped.skipped == "cannot run: 64 frames > max_seq_length 32"
    for r in (results[0], results[1], results[3]):
        assert r.skipped is None
        assert r.max_seq_length == 32  # the testbed's motion modules
        assert r.calls == 2  # one UNet call per step (CFG halves batched); windows inside it
        assert r.seconds_per_call > 0
        assert r.peak_mib >= 0 and r.rss_mib > 0  # CPU: ru_maxrss, KiB -> MiB
    assert "plain           64   cannot run: 64 frames > max_seq_length 32" in out
    assert "FreeNoise/plain at 32 frames: time per UNet call " in out
    assert "FreeNoise/plain at 64 frames: n/a (plain sampling cannot run)" in out
