"""The real floors of the benchmark (bench.floors) on a real server, and the scale
section's exponents and verdicts (bench.scale)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest

from bench import floors, scale
from bench.common import Server, find_psql, run_measured
from bench.suite import BATCH, PSQL, RESTORE, TRIMTAB, Results, k

REPO = Path(__file__).resolve().parents[1]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind = 'r' ORDER BY 1")]


def test_one_batch_floor_is_one_transaction(db_url: str, tmp_path: Path) -> None:
    script = tmp_path / "schema.sql"
    script.write_text("CREATE TABLE a (id int PRIMARY KEY);\n"
                      "CREATE TABLE b (a_id int REFERENCES a);\n")
    run_measured(floors.batch_cmd(script, db_url), timeout=120, cwd=REPO)
    assert _tables(db_url) == ["a", "b"]

    # A failure at the end undoes the whole batch: it ran in one transaction.
    script.write_text("CREATE TABLE c (id int);\nCREATE TABLE a (id int);\n")
    proc = subprocess.run(floors.batch_cmd(script, db_url), cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and '"a" already exists' in proc.stderr
    assert _tables(db_url) == ["a", "b"]


def test_pg_restore_floor_rebuilds_the_schema(admin_url: str, db_url: str,
                                              tmp_path: Path) -> None:
    server = Server(admin_url, find_psql(None), "test")
    assert floors.restore_missing(server) is None
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'sad');"
                     "CREATE TABLE a (id int PRIMARY KEY, m mood NOT NULL DEFAULT 'ok');"
                     "CREATE INDEX a_m ON a (m)")
    dump = floors.dump_schema(server, db_url, tmp_path / "a.dump", timeout=120)
    target = server.fresh_db("restore_test")
    try:
        floors.restore(server, dump, server.url(target), timeout=120)
        assert _tables(server.url(target)) == ["a"]
        with psycopg.connect(server.url(target)) as conn:
            row = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'a_m'"
                               ).fetchone()
        assert row == (1,)
    finally:
        server.drop_db(target)


def test_exponent_of_powers() -> None:
    assert scale.exponent([(1000, 1.0), (5000, 5.0), (10000, 10.0)]) == pytest.approx(1.0)
    assert scale.exponent([(1000, 1.0), (10000, 100.0)]) == pytest.approx(2.0)
    assert scale.exponent([(1000, 0.3), (10000, 0.3)]) == pytest.approx(0.0)
    assert scale.exponent([(1000, 1.0)]) is None


def _scale_results() -> Results:
    sizes = [10, 1000, 5000, 10000]
    res = Results(sizes=sizes, runs=1, peer_runs=dict.fromkeys(sizes, 0), seed=0,
                  schema_source="test")
    for n in sizes:
        # push from empty linear, push after one change quadratic, migrate constant.
        res.times[k(n, TRIMTAB, "push_empty")] = [n / 1000]
        res.times[k(n, TRIMTAB, "push_one")] = [(n / 1000) ** 2]
        res.times[k(n, TRIMTAB, "generate_one")] = [0.5]
        for floor in (PSQL, BATCH, RESTORE):
            res.times[k(n, floor, "push_empty")] = [n / 500]
        res.memory[k(n, TRIMTAB, "push_empty")] = [n * 40_000]  # 400 MB at 10,000
        res.lsp[k(n)] = {"fast": [n / 10_000] * 20, "exact": [1.0] * 20,
                         "first_fast": n / 5000, "first_exact": 1.0, "peak_rss": None}
    return res


def _row(text: str, label: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(label)


def test_scale_section_states_exponents_and_findings() -> None:
    text = scale.render(_scale_results(), "images/x.png")
    assert "exponent N=1000–10000" in text
    push = _row(text, "push from empty")
    assert push[:4] == ["0.010 s", "1.00 s", "5.00 s", "10.0 s"]
    assert push[4:] == ["1.00", "1.00", "ok"]
    assert _row(text, "push after one change")[4:] == ["2.00", "2.00", "**above linear**"]
    assert _row(text, "generate after one change")[-1] == "ok"  # constant: as it should be
    # The keystroke grows linearly with the schema: the work of one change should not.
    assert _row(text, "language server: keystroke p95")[-1] == "**grows with the schema**"
    # Memory over 300 MB is marked; the floors' ratio to trimtab is stated.
    assert "**400**" in text
    floor_rows = [ln for ln in text.splitlines() if ln.startswith("| push from empty | ")]
    assert "| push from empty | one batch | 0.5x | 0.5x | 0.5x | 0.5x |" in floor_rows


def test_scale_cli_merges_runs_and_draws(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    res = _scale_results()
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    a, b = asdict(res), asdict(res)
    a["sizes"], b["sizes"] = [10, 1000], [5000, 10000]
    small.write_text(json.dumps(a))
    big.write_text(json.dumps(b))
    chart = tmp_path / "scale.png"
    proc = subprocess.run([sys.executable, "-m", "bench.scale", str(small), str(big),
                           "--chart", str(chart), "--chart-link", "images/scale.png"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| operation | N=10 | N=1000 | N=5000 | N=10000 |" in proc.stdout
    assert "![Time against number of tables, log scales](images/scale.png)" in proc.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
