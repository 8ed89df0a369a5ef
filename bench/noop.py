"""``python -m bench.noop``: a no-op push, the first (the full path: introspection and
shadow, then the no-op is recorded) and the ones after it (the catalog fingerprint
matches the record: one query), optionally against older code (``--before``: a folder
that holds an older ``trimtab`` package, as ``git archive <commit> server`` extracts it).
Every command is a new process, start-up included; medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import find_psql, log, open_server, run_measured
from bench.generate import generate_sql


def _project(root: Path, n: int, url: str) -> Path:
    root.mkdir(parents=True)
    (root / "schema.sql").write_text(generate_sql(n, 0))
    (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{url}"\n'
                                       "shadow_cache = true\n")
    return root


def _seconds(cmd: list[str], proj: Path, env: dict[str, str], runs: int) -> float:
    return statistics.median(run_measured(cmd, cwd=proj, env=env, timeout=600).seconds
                             for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.noop", description=__doc__)
    ap.add_argument("--sizes", default="500,1000", help="table counts (default 500,1000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    ap.add_argument("--before", type=Path, help="a folder holding older code's trimtab/")
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    codes = {"now": env}
    if args.before:
        codes = {"before": {**env, "PYTHONPATH": str(args.before.resolve())}, **codes}
    cmd = [sys.executable, "-m", "trimtab", "push", "--force"]
    print("| tables | code | first no-op (s) | later no-ops (s) |\n|---|---|---|---|")
    with open_server(None, find_psql(None)) as server, \
            tempfile.TemporaryDirectory(prefix="trimtab-noop-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            for label, code_env in codes.items():
                url = server.url(server.fresh_db("noop"))
                proj = _project(Path(tmp) / f"{label}-{n}", n, url)
                log(f"N={n} {label}: push from empty")
                run_measured(cmd, cwd=proj, env=code_env, timeout=600)
                first = run_measured(cmd, cwd=proj, env=code_env, timeout=600).seconds
                later = _seconds(cmd, proj, code_env, args.runs)
                print(f"| {n} | {label} | {first:.2f} | {later:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
