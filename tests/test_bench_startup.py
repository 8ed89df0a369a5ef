"""The start-up benchmark measures real processes, so it cannot rot."""

from __future__ import annotations

import statistics

import pytest

from bench.common import open_server
from bench.startup import COMMANDS, measure, render


@pytest.mark.slow  # pushes a project and starts about twenty processes
def test_every_command_is_measured(admin_url: str) -> None:
    with open_server(admin_url, "psql") as server:
        found = measure(server, runs=2)
    for name in COMMANDS:
        assert len(found[f"{name} cpu"]) == len(found[f"{name} imports"]) == 2
        assert all(x > 0 for x in found[f"{name} cpu"] + found[f"{name} imports"])
    # status imports the engine, --help does not: what the target is about shows
    assert min(found["status full imports"]) > max(found["help imports"])
    # the floor connects as status does, and status does more than the floor
    assert len(found["floor cpu"]) == 2 and min(found["floor cpu"]) > 0
    assert min(found["status full cpu"]) > min(found["floor cpu"])
    # the full path reads, replays and plans what the repeat takes from its record (CPU
    # time: importtime's are wall-clock times, which another job's load inflates)
    assert statistics.median(found["status full cpu"]) > statistics.median(found["status cpu"])
    shown = render(found)
    assert "| `trimtab status`, the full path (no record) |" in shown and "| floor:" in shown
