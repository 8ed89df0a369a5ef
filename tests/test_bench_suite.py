"""The side-by-side benchmark (``python -m bench``) in its smoke mode, so it cannot rot: N=10,
one run, every tool, every operation, checked end to end; and the report's verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import peers, suite
from bench.report import TARGETS, evaluate, render
from bench.suite import BATCH, DRIZZLE, MIGRA, OPS, PSQL, TRIMTAB, Results, k

REPO = Path(__file__).resolve().parents[1]


def _table_row(report: str, label: str, after: str) -> list[str]:
    """The cells of the first table row after the line ``after`` whose first cell is
    ``label``."""
    assert after in report, after
    for line in report.split(after, 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in the report")


@pytest.mark.slow  # the whole benchmark, every tool
def test_quick_suite_end_to_end(admin_url: str) -> None:
    missing = peers.npm_missing()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--dsn", admin_url],
        cwd=REPO, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = proc.stdout

    for heading in ("## Targets", "## Ratios", "## Absolute times", "## Peak memory",
                    "## trimtab alone", "## Notes", "## Setup", "## What is measured"):
        assert heading in report, heading
    assert "| operation | ratio | N=10 |" in report
    for target in TARGETS:  # N=500 and up are not part of a smoke run
        if target.n < 0:  # start-up, measured once per run
            assert f"| {target.text} | help " in report
        elif target.n:
            assert f"| {target.text} | N={target.n} was not part of this run | " \
                "**not measured** |" in report
        elif not missing:  # the targets at every size are judged on the smoke run's sizes
            assert f"| {target.text} | " in report and " at N=10" in report

    migra_ran = "migra was not measured" not in report
    for op in OPS:
        psql_, trimtab, drizzle, migra, batch, restore = _table_row(
            report, op.label, "## Absolute times")[:6]
        assert trimtab.endswith(" s"), (op.key, trimtab)  # measured, and passed its check
        assert (psql_.endswith(" s")) == (PSQL in op.tools), (op.key, psql_)
        # The real floors, checked against the psql floor's databases like every tool.
        assert batch.endswith(" s") == restore.endswith(" s") == (BATCH in op.tools), (
            op.key, batch, restore)
        if DRIZZLE in op.tools:
            assert drizzle == "not measured" if missing else drizzle.endswith(" s"), (
                op.key, drizzle)
        if MIGRA in op.tools and migra_ran:
            assert migra.endswith(" s"), (op.key, migra)
    if missing:
        assert f"drizzle-kit was not measured: {missing}" in report
    else:
        cells = _table_row(report, "no-op push", "## Ratios")
        assert cells[0] == "drizzle-kit ÷ trimtab" and cells[1].endswith("x"), cells
        assert "drizzle-kit 0.31.11, drizzle-orm 0.45.4, pg 8.23.1" in report
    # The language server was measured on the same schema.
    assert _table_row(report, "10", "Language server, keystroke to diagnostics")[0] != "–"


@pytest.mark.slow  # the whole benchmark without Node
def test_without_node_the_suite_measures_the_rest(
    admin_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(peers, "npm_missing", lambda: "node is not installed (test)")
    code = suite.main(["--quick", "--dsn", admin_url, "--tools", "trimtab,drizzle-kit",
                       "--lsp-edits", "0"])
    report = capsys.readouterr().out
    assert code == 0, report
    assert "drizzle-kit was not measured: node is not installed (test)." in report
    assert "bench/generate.py's SQL schema" in report
    # Every trimtab operation still runs, migrate on a history trimtab generated.
    for op in OPS:
        if not op.key.startswith("diff"):
            assert _table_row(report, op.label, "## Absolute times")[1].endswith(" s"), op.key


def _results(**times: float) -> Results:
    res = Results(sizes=[500, 1000], runs=1, peer_runs={500: 1, 1000: 1}, seed=0,
                  schema_source="test")
    for key, seconds in times.items():
        n, tool, op = key.split("__")
        res.times[k(int(n), tool.replace("_", "-"), op)] = [seconds]
        res.memory[k(int(n), tool.replace("_", "-"), op)] = [100_000_000]
    return res


def test_targets_pass_fail_and_timeouts() -> None:
    res = _results(**{
        "500__drizzle_kit__push_noop": 200.0, "500__trimtab__push_noop": 2.0,  # 100x
        "1000__psql__push_empty": 8.0, "1000__trimtab__push_empty": 12.0,  # 1.5x: FAIL
        "1000__psql__migrate_full": 10.0, "1000__trimtab__migrate_full": 11.0,  # 1.1x
        "1000__trimtab__generate_one": 3.0,
    })
    # drizzle-kit's generate timed out: the ratio is a lower bound.
    res.errors[k(1000, DRIZZLE, "generate_one")] = "timed out after 600 s"
    res.lsp[k(1000)] = {"fast": [0.1] * 19 + [0.3], "exact": [5.0] * 20, "first_fast": 1.0,
                        "first_exact": 9.0, "peak_rss": 250_000_000}
    verdicts = [evaluate(res, i)[1] for i in range(len(TARGETS))]
    assert verdicts[:4] == ["PASS", "FAIL", "PASS", "PASS"]
    assert evaluate(res, 3)[0].startswith("> 200x")
    assert verdicts[4] == "PASS"  # p95 of 20 samples is the 19th
    # Memory: every trimtab command at 100 MB, the language server at 250 MB; but most
    # operations are missing here, so it cannot pass.
    assert verdicts[5] == "FAIL" and "missing" in evaluate(res, 5)[0]
    # issue 24's: the no-op from its record, and generate at every size of the run
    assert verdicts[6:] == ["not measured"] * 6
    res.times[k(1000, TRIMTAB, "push_noop_again")] = [0.45]
    res.times[k(500, TRIMTAB, "push_noop_again")] = [1.5]  # 133x drizzle-kit's 200 s
    for n, (drizzle, trimtab) in {500: (1.0, 2.0), 1000: (2.0, 1.0)}.items():
        res.times[k(n, DRIZZLE, "generate_empty")] = [drizzle]
        res.times[k(n, TRIMTAB, "generate_empty")] = [trimtab]
        res.times[k(n, DRIZZLE, "generate_noop")] = [drizzle * 2]
        res.times[k(n, TRIMTAB, "generate_noop")] = [drizzle]
    assert [evaluate(res, i)[1] for i in range(6, 10)] == ["PASS", "PASS", "FAIL", "PASS"]
    assert evaluate(res, 8)[0] == "0.5x at N=500, 2.0x at N=1000"
    res.startup = {"help cpu": [0.1, 0.09, 0.2], "help imports": [0.05] * 3,
                   "status cpu": [0.2] * 3, "status imports": [0.12] * 3}
    assert evaluate(res, 11) == ("help 100 ms (imports 50 ms), status 200 ms (imports 120 ms)",
                                 "FAIL")
    res.startup.update({"status cpu": [0.12] * 3, "status full cpu": [0.45] * 3,
                        "status full imports": [0.3] * 3})
    assert evaluate(res, 11) == ("help 100 ms (imports 50 ms), status 120 ms (imports 120 ms), "
                                 "status full 450 ms (imports 300 ms)", "FAIL")
    text = render(res, None)
    assert "| push from empty | trimtab ÷ psql floor | – | 1.5x |" in text
    assert "timed out (> 600 s)" in text


def test_peer_runs_spec() -> None:
    assert suite.parse_peer_runs(None, [10, 100, 500], 3) == {10: 3, 100: 3, 500: 1}
    assert suite.parse_peer_runs("2", [10, 1000], 3) == {10: 2, 1000: 2}
    assert suite.parse_peer_runs("10:3,1000:1", [10, 500, 1000], 3) == {10: 3, 500: 1, 1000: 1}
    # Above the cap the peers do not run at all (trimtab and the floors alone).
    assert suite.parse_peer_runs(None, [1000, 5000, 10000], 1, 1000) == {
        1000: 1, 5000: 0, 10000: 0}


def test_trimtab_is_the_reference_of_every_ratio() -> None:
    # Every peer operation has a trimtab figure to compare with.
    for op in OPS:
        assert TRIMTAB in op.tools, op.key


def test_skipped_steps_leave_no_figure_and_no_error() -> None:
    from bench.common import Sample

    res = Results(sizes=[10], runs=1, peer_runs={10: 1}, seed=0, schema_source="test",
                  skip=["push_noop_cold", "pg_restore:migrate_full", "migrate_full"])
    ran: list[str] = []

    def step(tool: str, op: str) -> Sample | None:
        def fn() -> Sample:
            ran.append(f"{tool}:{op}")
            return Sample(1.0, 1, "")
        return suite.Recorder(res, 10, tool).step(op, fn)

    assert step(TRIMTAB, "push_noop_cold") is None
    assert step(suite.RESTORE, "migrate_full") is None
    assert step(suite.RESTORE, "push_empty") is not None
    # psql's loads are the references every check compares with: never skipped.
    assert step(PSQL, "migrate_full") is not None
    assert ran == ["pg_restore:push_empty", "psql:migrate_full"]
    assert k(10, TRIMTAB, "push_noop_cold") not in res.errors


def test_no_op_from_its_record_says_when_the_full_path_ran(
        project: Path, db_url: str, sql: Any) -> None:
    exe = Path(sys.executable).parent / "trimtab"
    (project / "schema.sql").write_text("CREATE TABLE t1_a (id integer PRIMARY KEY);\n")
    (project / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{db_url}"\n')
    missed: list[str] = []

    def push() -> suite.Sample:
        return suite.run_measured([str(exe), "push", "--force"], cwd=project,
                                  env=suite.clean_env(), timeout=300)

    push()  # from empty: no record
    step = suite._from_record(project, push, missed.append)
    with pytest.raises(suite.StepFailed, match="no record"):
        step()
    push()
    push()  # no-ops: the record is there and matches the catalogs
    step()
    assert missed == []
    # DDL elsewhere in the database changes the catalogs: the record no longer matches,
    # the full path runs, and its time must not pass for the record's unremarked.
    sql("CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.x (id int)")
    step()
    assert len(missed) == 1 and "took the full path" in missed[0]


def test_at_every_size_means_every_size_the_peers_ran_at() -> None:
    """Above --peer-max-tables drizzle-kit is left out on purpose (peer_runs 0): those
    sizes are trimtab's alone and do not make "at every size" a missing figure."""
    res = _results()
    res.sizes.append(5000)
    res.peer_runs[5000] = 0
    for n in (500, 1000, 5000):
        res.times[k(n, TRIMTAB, "generate_noop")] = [1.0]
        if n != 5000:
            res.times[k(n, DRIZZLE, "generate_noop")] = [2.0]
    assert evaluate(res, 9) == ("2.0x at N=500, 2.0x at N=1000", "PASS")
    # a size the peers were meant to run at and did not stays a missing figure
    del res.times[k(1000, DRIZZLE, "generate_noop")]
    assert evaluate(res, 9) == ("2.0x at N=500; 1 size(s) missing", "FAIL")
