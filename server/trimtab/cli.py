"""The command line: a thin layer over ``engine`` that shows results and asks questions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm

from trimtab import __version__, embedded, engine
from trimtab.config import Config, load_config
from trimtab.errors import ConsentRequired, TrimtabError
from trimtab.plan import Plan, Step

# soft_wrap: SQL and URLs are printed whole, never cut at the terminal's width.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_SIGN = {"create": "+", "add": "+", "drop": "-", "recreate": "~"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="trimtab",
        description="Keep a declarative PostgreSQL schema and a database in line.",
    )
    p.add_argument("--version", action="version", version=f"trimtab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    push = sub.add_parser("push", help="make the database match the schema file")
    push.add_argument("--schema", metavar="PATH", help="schema .sql file or folder")
    push.add_argument("--url", metavar="URL", help="database URL (overrides configuration)")
    push.add_argument("--dry-run", action="store_true",
                      help="print the SQL and apply nothing (no output when nothing is planned)")
    push.add_argument("--exit-code", action="store_true",
                      help="with --dry-run: exit 1 when changes are pending")
    push.add_argument("--json", action="store_true", help="print the plan as JSON")
    push.add_argument("--force", action="store_true",
                      help="apply changes that lose data without asking")

    db = sub.add_parser("db", help="the embedded PostgreSQL server of this project")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "push":
            return _push(args)
        return _db(args)
    except TrimtabError as e:
        if getattr(args, "json", False):  # machines get the error as data too
            print(json.dumps({"error": e.as_dict()}, indent=2))
        label = "refused" if isinstance(e, ConsentRequired) else "error"
        err.print(f"[bold red]{label}:[/] {escape(str(e))}")
        return 1
    except KeyboardInterrupt:
        err.print("interrupted: nothing was applied")
        return 130


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path.cwd(), schema=getattr(args, "schema", None),
                       url=getattr(args, "url", None))


# -- push ------------------------------------------------------------------------------------


def _push(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.exit_code and not args.dry_run:
        err.print("[bold red]error:[/] --exit-code only goes with --dry-run")
        return 2
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.json

    def consent(plan: Plan) -> bool:
        if not interactive:
            return False
        return Confirm.ask(f"[bold]Apply {len(plan.steps)} changes, "
                           f"{len(plan.data_loss)} of which lose data?[/]", default=False)

    def show_before_consent(plan: Plan) -> bool:
        if interactive:
            _print_plan(plan)
        return consent(plan)

    result = engine.push(cfg, dry_run=args.dry_run, force=args.force,
                         consent=show_before_consent)
    plan = result.plan
    if args.json:
        doc: dict[str, Any] = {"database": result.target.label, "applied": result.applied,
                               **plan.to_json()}
        print(json.dumps(doc, indent=2))
        return 1 if (args.exit_code and plan) else 0
    if args.dry_run:
        if plan:
            sys.stdout.write(plan.sql())
        return 1 if (args.exit_code and plan) else 0

    for w in result.target.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    out.print(f"[dim]database:[/] {escape(result.target.label)}")
    if not plan:
        out.print("[green]Nothing to do:[/] the database matches the schema.")
        _print_unmanaged(plan)
        return 0
    if not (interactive and plan.data_loss):  # already shown before the question
        _print_plan(plan)
    out.print(f"[green]Applied {len(plan.steps)} change{'s' if len(plan.steps) != 1 else ''}"
              f"[/] in {result.seconds:.2f} s.")
    for note in result.notes:
        out.print(f"[dim]note:[/] {escape(note)}")
    _print_unmanaged(plan)
    return 0


def _print_plan(plan: Plan) -> None:
    """The plan grouped by the object each change belongs to (a table and its columns,
    constraints and indexes together). ``--dry-run`` prints the SQL in execution order."""
    n = len(plan.steps)
    out.print(f"[bold]Plan: {n} change{'s' if n != 1 else ''}[/]")
    groups: dict[str, list[Step]] = {}
    for step in plan.steps:
        groups.setdefault(_owner(step), []).append(step)
    for owner, steps in groups.items():
        out.print(f"\n[bold]{escape(owner)}[/]")
        for step in steps:
            ch = step.change
            sign = _SIGN.get(ch.kind.value.split("_", 1)[0], "~")
            style = "red" if step.data_loss else {"+": "green", "-": "yellow"}.get(sign, "cyan")
            mark = "  [bold red]DATA LOSS[/]" if step.data_loss else ""
            out.print(f"  [{style}]{sign} {escape(ch.describe())}[/]{mark}")
            for statement in step.sql:
                text = "\n".join("      " + line for line in f"{statement};".splitlines())
                out.print(f"[dim]{escape(text)}[/]")
    if plan.data_loss:
        out.print(f"\n[bold red]{len(plan.data_loss)} change(s) lose data.[/]")


def _owner(step: Step) -> str:
    t = step.change.target
    if t[0] in ("comment", "grant"):
        return "comments and privileges"
    if t[0] in ("column", "constraint", "trigger", "policy") or (
            t[0] in ("index", "cluster") and step.change.parent is not None):
        parent = step.change.parent
        return f"{parent.schema}.{parent.name}" if parent is not None else ".".join(t[1:3])
    return ".".join(t[1:3]) if t[0] != "schema" else t[1]


def _print_unmanaged(plan: Plan) -> None:
    if plan.unmanaged:
        out.print(f"[dim]not managed by trimtab: {escape(', '.join(plan.unmanaged))}[/]")


# -- db --------------------------------------------------------------------------------------


def _db(args: argparse.Namespace) -> int:
    root = load_config(Path.cwd()).root
    if args.action == "start":
        url = embedded.ensure_database(root)
        out.print(f"embedded PostgreSQL running in {embedded.data_dir(root)}")
        print(url)
    elif args.action == "stop":
        stopped = embedded.stop(root)
        out.print("stopped" if stopped else "not running")
    elif args.action == "url":
        url = embedded.url(root)
        if url is None:
            err.print("the embedded server is not running: `trimtab db start` starts it")
            return 1
        print(url)
    else:
        st = embedded.status(root)
        out.print(f"data: {st.data_dir}")
        out.print(f"running: {'yes, pid ' + str(st.pid) if st.running else 'no'}")
        if st.url:
            out.print(f"url: {st.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
