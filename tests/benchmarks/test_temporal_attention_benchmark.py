"""benchmarks.temporal_attention: the timing rows (ByTheWay, FreeLong, plain) and the zoo's exact
UNet calls, at the smoke-run settings (no wall-clock assertions)."""

from benchmarks.temporal_attention import (
    ANIMATEDIFF,
    BYTHEWAY,
    BYTHEWAY_ALL,
    BYTHEWAY_TSG,
    FREELONG,
    MODELSCOPE,
    MODELSCOPE_2UP,
    PLAIN,
    ZOO,
    main,
)


def test_quick_run(capsys):
    # --quick: ByTheWay at 4 frames, FreeLong at 8 (window 4), 3 steps; the zoo at 5 steps.
    results = main(["--quick"])
    out = capsys.readouterr().out
    assert [r.key for r in results.timing] == [
        (ANIMATEDIFF, PLAIN, 4),
        (ANIMATEDIFF, BYTHEWAY, 4),
        (ANIMATEDIFF, BYTHEWAY_ALL, 4),
        (ANIMATEDIFF, BYTHEWAY_TSG, 4),
        (ANIMATEDIFF, PLAIN, 8),
        (ANIMATEDIFF, FREELONG, 8),
        (MODELSCOPE, PLAIN, 8),
        (MODELSCOPE, FREELONG, 8),
        (MODELSCOPE, BYTHEWAY, 4),
        (MODELSCOPE_2UP, PLAIN, 4),
        (MODELSCOPE_2UP, BYTHEWAY, 4),
        (MODELSCOPE_2UP, BYTHEWAY_ALL, 4),
        (MODELSCOPE_2UP, BYTHEWAY_TSG, 4),
    ]
    # ByTheWay refuses the stock tiny ModelScope (one decoder block with temporal attention);
    # the benchmark's two-up-block variant runs it.
    refused = [r for r in results.timing if r.skipped]
    assert [r.key for r in refused] == [(MODELSCOPE, BYTHEWAY, 4)]
    assert "ByTheWay needs at least two" in refused[0].skipped
    # ByTheWay's active calls: ceil(0.2 * 3) = 1 at the default fraction, all 3 at 1.0.
    active = {BYTHEWAY: 1, BYTHEWAY_ALL: 3, BYTHEWAY_TSG: 3, PLAIN: None, FREELONG: None}
    plain = {(r.model, r.frames): r for r in results.timing if r.method == PLAIN}
    for r in results.timing:
        if r.skipped:
            continue
        assert r.calls == 3, r.key  # one UNet call per step, CFG halves batched
        assert r.active == active[r.method], r.key
        assert len(r.first) == len(r.whole) == 1  # 1 timed round
        assert min(r.first + r.whole) > 0
        base = plain[(r.model, r.frames)]
        # Paired ratios: this row's round over plain's round, same model and frames.
        assert r.whole_ratio == [r.whole[0] / base.whole[0]]
        assert r.first_ratio == [r.first[0] / base.first[0]]
    lines = out.splitlines()
    for model in (ANIMATEDIFF, MODELSCOPE_2UP):
        assert any(
            line.startswith(f"ByTheWay/plain per UNet call, {model}, 4 frames: ")
            and "over the active steps (first 1 of 3)" in line
            for line in lines
        ), model
    for model in (ANIMATEDIFF, MODELSCOPE):
        prefix = f"FreeLong/plain per UNet call, {model}, 8 frames, window 4: "
        assert any(line.startswith(prefix) for line in lines), model

    # The zoo at 5 linspace steps (999, 749, 500, 250, 0): mid_step 250, index 3.
    assert (results.mid_step, results.mid_index) == (250, 3)
    assert [r.name for r in results.zoo] == list(ZOO)
    calls = {r.name: (r.passes, r.counted, r.active) for r in results.zoo}
    assert calls == {
        "plain": ([5], 5, None),
        "FreeInit": ([5, 5, 5], 15, None),
        "FreqPrior": ([3, 3, 5], 11, None),
        "FreeU": ([5], 5, None),
        "ByTheWay": ([5], 5, 1),
        "FreeInit + FreeU": ([5, 5, 5], 15, None),
        "FreeInit + ByTheWay": ([5, 5, 5], 15, 3),
        "FreqPrior + ByTheWay": ([3, 3, 5], 11, 3),
    }
    assert all(r.ok for r in results.zoo)
    assert "UNet calls as the schedule implies: yes" in out
    zoo_lines = {line.split("  ")[0]: line.split() for line in lines}
    assert zoo_lines["FreqPrior + ByTheWay"][-4:] == ["11", "2.20", "3", "(3)"]
