"""The language-server memory soak in a small size, so that it cannot rot."""

from __future__ import annotations

import pytest

from bench.soak import growth_per_1000, run


@pytest.mark.slow  # a whole benchmark run
def test_a_short_soak_samples_memory_and_answers_every_edit(admin_url: str) -> None:
    result = run(tables=10, edits=120, kb=4, pause_every=60, timeout=120, seed=0,
                 dsn=admin_url)
    samples = result["samples"]
    assert [n for n, _ in samples] == [0, 100, 120]
    assert all(rss > 0 for _, rss in samples) and result["peak"] >= samples[-1][1]
    assert len(result["fast"]) == 120 and len(result["hovers"]) == 2


def test_growth_is_the_slope_of_the_second_half() -> None:
    samples = [(0, 0), (1000, 900), (2000, 1000), (3000, 1100), (4000, 1200)]
    assert growth_per_1000(samples) == 100
