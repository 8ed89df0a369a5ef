"""trimtab's view of the database, for the studio: what ``push`` would change (with its
hazards, measured), and the migrations' status and drift (``trimtab status``).

Both read only, and both can take seconds (they apply the schema file to a shadow
database), so they run in a worker thread and the page polls for the result. A schema
file that is missing or does not parse, or an unreachable shadow server, is shown as such
instead of failing the studio.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from trimtab import engine
from trimtab.config import Config
from trimtab.errors import TrimtabError
from trimtab.migrations.folder import read_folder
from trimtab.model import Table, View, qname
from trimtab.plan import Plan, Step


def step_table(step: Step) -> tuple[str, str] | None:
    """The table or view a change is about, when it is about one."""
    ch = step.change
    parent = ch.parent
    if isinstance(parent, Table | View):
        return (parent.schema, parent.name)
    t = ch.target
    if t[0] in ("table", "view", "column", "constraint", "index", "cluster", "trigger",
                "policy") and len(t) >= 3:
        return (t[1], t[2])
    return None


def _step_mentions(step: Step, schema: str, name: str) -> bool:
    """Comments and grants name their object in SQL: COLUMN public.orders.note."""
    t = step.change.target
    if t[0] not in ("comment", "grant") or len(t) < 3:
        return False
    q = qname(schema, name)
    return t[2] == q or t[2].startswith(q + ".")


def plan_json(plan: Plan) -> list[dict[str, Any]]:
    changes = plan.to_json()["changes"]
    for ch, step in zip(changes, plan.steps, strict=True):
        table = step_table(step)
        ch["table"] = list(table) if table else None
        ch["mentions"] = None
        t = step.change.target
        if table is None and t[0] in ("comment", "grant") and len(t) >= 3:
            ch["mentions"] = t[2]
    return changes


def _error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, TrimtabError):
        return {"error": str(e), **{k: v for k, v in e.as_dict().items()
                                    if k in ("file", "line", "column", "hint")}}
    return {"error": f"{type(e).__name__}: {e}"}


def compute_plan(cfg: Config) -> dict[str, Any]:
    """What push would do now (read-only, measured), or why that cannot be known."""
    try:
        source = engine.read_source(cfg)
        live = engine.plan_live(cfg, source)
    except Exception as e:  # a broken schema file must not break the page
        return {"ok": False, "schema_file": str(cfg.schema_path), **_error(e)}
    return {
        "ok": True,
        "schema_file": str(cfg.schema_path),
        "changes": plan_json(live.plan),
        "data_loss": bool(live.plan.data_loss),
        "blocking": bool(live.plan.blocking),
        "rename_candidates": [engine.candidate_json(c, source) for c in live.candidates],
        "notes": list(live.notes),
        "unmanaged": list(live.plan.unmanaged),
    }


def compute_status(cfg: Config) -> dict[str, Any]:
    """Migrations applied and pending, problems, and drift; without the schema file (or
    when it does not parse) the migrations part still shows."""
    folder_path = str(cfg.migrations_dir)
    try:
        folder = read_folder(cfg.migrations_dir)
    except Exception as e:
        return {"ok": False, "folder": folder_path, **_error(e)}
    if not folder.migrations:
        return {"ok": True, "folder": folder_path, "migrations": 0, "applied": [],
                "pending": [], "problems": [], "drift": None, "not_in_a_migration": None,
                "note": "no migrations in this project's migrations folder: drift is "
                        "measured against migrations, so there is none to show "
                        "(a push-only workflow)"}
    try:
        s = engine.status(cfg)
    except Exception as e:
        out: dict[str, Any] = {"ok": False, "folder": folder_path, **_error(e),
                               "migrations": len(folder.migrations)}
        try:  # what can be known without the schema file
            applied, pending, problems = engine.progress(cfg)
            out.update(applied=applied, pending=pending, problems=problems)
        except Exception:
            pass
        return out
    return {
        "ok": True, "folder": folder_path, "migrations": len(folder.migrations),
        "applied": list(s.applied), "pending": list(s.pending),
        "problems": list(s.problems) + [p.message for p in s.folder_problems],
        "drift": list(s.drift), "not_in_a_migration": plan_json(s.unmigrated),
    }


MAX_WAIT = 30.0  # seconds a request may hold a server thread


class Insight:
    """The last computed view, and at most one computation running (in a daemon thread:
    stopping the studio never waits for a shadow database to be built)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: dict[str, Any] | None = None
        self._started = 0.0

    def _compute(self) -> dict[str, Any]:
        started = time.monotonic()
        plan = compute_plan(self.cfg)
        status = compute_status(self.cfg)
        return {"plan": plan, "status": status,
                "seconds": round(time.monotonic() - started, 2), "at": time.time()}

    def _run(self) -> None:
        try:
            result = self._compute()
        except Exception as e:  # compute_* catch their own; belt and braces
            result = {"plan": {"ok": False, **_error(e)}, "status": {"ok": False, **_error(e)}}
        with self._lock:  # set before the thread ends: get() never sees neither
            self._result = result

    def get(self, refresh: bool = False, wait: float = 0.0) -> dict[str, Any]:
        """{"state": "running" | "ready", ...}: starts a computation when there is no
        result yet (or ``refresh``) and none is running. ``wait``: up to that many seconds
        (at most ``MAX_WAIT``) for a running computation to end, so a client learns of the
        result when it comes rather than at its next poll."""
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            if not running and (self._result is None or refresh):
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="trimtab-studio-insight")
                self._thread.start()
                self._started = time.monotonic()
            thread = self._thread
        if wait > 0 and thread is not None:
            thread.join(min(wait, MAX_WAIT))
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            out: dict[str, Any] = {"state": "running" if running else "ready"}
            if running:
                out["running_for"] = round(time.monotonic() - self._started, 1)
            if self._result is not None:
                out.update(self._result)
            return out

    def close(self) -> None:
        """Nothing to wait for: a computation still running ends with the process."""
