"""benchmarks.runner and benchmarks.cache read job.json: the UNet share and the sweep totals."""

import pytest

from benchmarks.cache import FIELDS, totals
from benchmarks.runner import _breakdown, unet_share


def job(**timings):
    return {"unet_calls": 250, "timings": timings}


def test_unet_share_from_timings():
    assert unet_share(job(generation=20.0, unet=15.0, decode=1.0)) == 0.75
    text = _breakdown(job(generation=20.0, unet=15.0, decode=1.0, metrics=2.0, videos=1.0))
    assert text == (
        "unet 15.0 s (75%), decode 1.0 s (5%), metrics 2.0 s (10%), videos 1.0 s (5%), "
        "other 1.0 s (5%)"
    )


@pytest.mark.parametrize(
    "summary",
    [
        {"unet_calls": 250},  # a job.json from before timings existed
        job(generation=20.0),  # no "unet"
        {"unet_calls": 0, "timings": {"generation": 0.5, "unet": 0.0}},  # everything cached
    ],
)
def test_unet_share_unknown(summary):
    assert unet_share(summary) is None


def test_sweep_totals_and_missing_fields():
    jobs = [dict.fromkeys(FIELDS, 2), dict.fromkeys(FIELDS, 3)]
    assert totals(jobs) == dict.fromkeys(FIELDS, 5)
    with pytest.raises(SystemExit, match="job.json lacks .*passes_generated.*pass-level cache"):
        totals([{"samples": 2, "unet_calls": 4}])
