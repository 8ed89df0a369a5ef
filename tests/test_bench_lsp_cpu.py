"""The in-process language-server benchmark in its smoke mode, so it cannot rot."""

from __future__ import annotations

from bench.lsp_cpu import PLACES, main, run, typing


def test_quick_cpu_run_measures_every_keystroke_and_request() -> None:
    result = run(tables=10, edits=4, requests=3)
    assert [len(result[k]) for k in ("keystroke", "hover", "completion")] == [4, 3, 3]
    assert all(v >= 0 for values in result.values() for v in values)
    assert main(["--quick"]) == 0


def test_typing_at_one_place_measures_each_key() -> None:
    for place in PLACES.values():
        assert len(typing(tables=10, place=place)) == 7
    assert main(["--typing", "--tables", "10"]) == 0
