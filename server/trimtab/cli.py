"""The command line: a thin layer over ``engine`` that shows results and asks questions."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt

from trimtab import __version__, cliout
from trimtab.config import Config, load_config
from trimtab.errors import ConfigError, ConsentRequired, TrimtabError
from trimtab.files import write_file
from trimtab.words import plural

if TYPE_CHECKING:
    from rich.progress import TaskID

    from trimtab import embedded, engine, model
    from trimtab.migrations import folder as migfolder
    from trimtab.migrations import runner
    from trimtab.migrations.folder import Migration
    from trimtab.migrations.runner import MigrationRun
    from trimtab.plan import Plan, Step, changes
    from trimtab.plan.changes import Hazard
    from trimtab.plan.online import Phase, Rewrite
    from trimtab.plan.renames import Rename
    from trimtab.sources import fingerprint
else:  # four fifths of the start-up, and `trimtab --help` needs none of it
    from trimtab.lazy import Lazy

    engine, embedded = Lazy("trimtab.engine"), Lazy("trimtab.embedded")
    migfolder, runner = Lazy("trimtab.migrations.folder"), Lazy("trimtab.migrations.runner")
    changes, model = Lazy("trimtab.plan.changes"), Lazy("trimtab.model")
    fingerprint = Lazy("trimtab.sources.fingerprint")

# soft_wrap: SQL and URLs are printed whole, never cut at the terminal's width.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
# What -q leaves out (notes, listings) and what only -v shows (the SQL sent).
info = cliout.Gated(out, cliout.NORMAL)
info_err = cliout.Gated(err, cliout.NORMAL)
detail = cliout.Gated(out, cliout.VERBOSE)

_SIGN = {"create": "+", "add": "+", "drop": "-", "recreate": "~"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="trimtab",
        description="Keep a declarative PostgreSQL schema and a database in line.",
    )
    p.add_argument("--version", action="version", version=f"trimtab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    push = sub.add_parser("push", help="make the database match the schema file")
    _url_option(push)
    _schema_option(push)
    push.add_argument("--dry-run", action="store_true",
                      help="print the SQL and apply nothing (no output when nothing is planned)")
    push.add_argument("--exit-code", action="store_true",
                      help="with --dry-run: exit 1 when changes are pending")
    push.add_argument("--json", action="store_true", help="print the plan as JSON")
    push.add_argument("--force", action="store_true",
                      help="apply changes that lose data without asking")

    gen = sub.add_parser("generate", help="write the next migration from the schema file")
    _url_option(gen, scratch=True)
    _schema_option(gen)
    gen.add_argument("--name", help="the migration's name (default: what changed)")
    gen.add_argument("--custom", action="store_true",
                     help="write an empty migration to fill in by hand (data changes)")
    gen.add_argument("--force", action="store_true",
                     help="write a migration that loses data without asking")
    gen.add_argument("--json", action="store_true", help="what was written, as JSON")

    mig = sub.add_parser("migrate", help="apply the pending migrations")
    # `migrate down` undoes; `migrate rebase`, after a merge in which both branches added
    # migrations, puts this branch's after the merged ones (git's word for it).
    mig.add_argument("action", nargs="?", choices=["down", "rebase"],
                     help="down: undo the last applied migrations (one by default) with "
                     "their down files; "
                     "rebase: renumber this branch's migrations after the merged branch's, "
                     "with their snapshots, journal and trimtab.sum, when the result still "
                     "produces the schema")
    _url_option(mig)
    _schema_option(mig)
    mig.add_argument("--to", metavar="NAME",
                     help="with down: undo every migration applied after NAME")
    mig.add_argument("--steps", metavar="N", type=int,
                     help="with down: undo the last N migrations (default 1)")
    mig.add_argument("--force", action="store_true",
                     help="with down: undo even when it loses data, without asking")
    mig.add_argument("--backup", metavar="PATH", nargs="?", const="",
                     help="pg_dump the database first (custom format; default path "
                     ".trimtab/backups/); no migration runs when the dump fails")
    mig.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    mig.add_argument("--exit-code", action="store_true",
                     help="with --dry-run: exit 1 when a migration would run")
    mig.add_argument("--json", action="store_true", help="what ran (or would run), as JSON")
    mig.add_argument("--allow-out-of-order", action="store_true",
                     help="apply a pending migration older than an applied one")
    # const: engine.MARK_VERIFIED (True), not read from engine: --help loads no engine
    mig.add_argument("--mark-applied", metavar="NAME", nargs="?", const=True,
                     help="record the pending migrations the database already has (after a "
                     "push) without running them; with NAME: record that one, unchecked "
                     "(a baseline)")
    mig.add_argument("--resume-after", metavar="N", type=int,
                     help="a migration without a transaction stopped half way: count its "
                     "statements 1..N as done and go on from N+1")
    _fleet_options(mig)

    chk = sub.add_parser("check", help="check the migrations folder's integrity (no database)")
    chk.add_argument("--json", action="store_true", help="the problems as JSON")
    chk.add_argument("--update-sum", action="store_true",
                     help="accept intended edits: rewrite trimtab.sum from the files")

    st = sub.add_parser("status", help="schema file, migrations and database, side by side")
    _url_option(st)
    _schema_option(st)
    st.add_argument("--json", action="store_true", help="the status as JSON")
    st.add_argument("--exit-code", metavar="WHAT", nargs="?", const=",".join(STATUS_CHECKS),
                    type=_status_checks,
                    help="exit 1 when the database or folder is not clean: WHAT is a "
                    f"comma list of {', '.join(STATUS_CHECKS)} (default: all)")
    _fleet_options(st)

    exp = sub.add_parser("export", help="print the whole schema as one SQL script")
    _url_option(exp, scratch=True)
    _schema_option(exp)
    exp.add_argument("--idempotent", action="store_true",
                     help="safe to run any number of times (INSTALL.sql)")
    exp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    exp.add_argument("--json", action="store_true",
                     help="the script and its warnings as one JSON document")

    rst = sub.add_parser("reset", help="development: drop everything, rebuild, seed")
    _url_option(rst)
    _schema_option(rst)
    rst.add_argument("--migrations", action="store_true",
                     help="rebuild by applying the migrations instead of the schema file")
    rst.add_argument("--force", action="store_true",
                     help="also reset a database that is not on this machine")
    rst.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rst.add_argument("--json", action="store_true", help="what was reset, as JSON")

    lsp = sub.add_parser("lsp", help="run the language server (stdio)")
    lsp.add_argument("--stdio", action="store_true",
                     help="talk over stdin/stdout (the default; editors pass it)")

    stu = sub.add_parser("studio", help="browse and edit the database in a local web app")
    _url_option(stu)
    _schema_option(stu)
    stu.add_argument("--port", type=int, default=0,
                     help="port on 127.0.0.1 (default: a free one)")
    stu.add_argument("--no-browser", action="store_true",
                     help="print a link (it opens the studio once) and do not open a browser")
    stu.add_argument("--read-only", action="store_true", help="never write to the database")
    stu.add_argument("--allow-writes", action="store_true",
                     help="allow edits to a database that is not on this machine")

    db = sub.add_parser("db", help="the embedded PostgreSQL server of this project")
    db.add_argument("action", choices=["start", "stop", "status", "url", "clean"],
                    help="clean: drop the shadow databases trimtab keeps between runs")
    db.add_argument("--json", action="store_true", help="the result as JSON")
    db.add_argument("--tcp", action="store_true",
                    help="with url: an address on 127.0.0.1 for GUI clients (restarts the "
                    "server to listen there; the password is in .trimtab/pgpass)")
    db.add_argument("--port", type=int, help="with url --tcp: the port (default: a free one)")

    fmt = sub.add_parser("fmt", help="lay out the schema's .sql files (blanks only, never meaning)")
    fmt.add_argument("files", nargs="*", metavar="FILE",
                     help="the .sql files (default: the project's schema files)")
    fmt.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 if a file would be reformatted")
    _schema_option(fmt)

    comp = sub.add_parser("completion", help="print a shell completion script")
    comp.add_argument("shell", choices=["bash", "zsh", "fish"])
    _verbosity_options(p, sub)
    for name, parser in sub.choices.items():
        if name not in _HELP_TAIL:  # a new command: tests/test_cli_output.py asks for one
            continue
        example, docs = _HELP_TAIL[name]
        parser.epilog = f"example:\n  {example}\n\ndocs: {docs}"
        parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the lines
    return p


# Each command's --help ends with an example and the page that explains it.
_HELP_TAIL = {
    "fmt": ("trimtab fmt --check    # in CI: exit 1 if a schema file is not laid out",
            "docs/lsp.md#formatting-sql-schema-files"),
    "push": ("trimtab push --dry-run    # the SQL, nothing applied",
             "docs/workflows.md#development-push"),
    "generate": ("trimtab generate --name add_users_email",
                 "docs/workflows.md#production-generate-and-migrate"),
    "migrate": ("trimtab migrate --backup    # pg_dump first, then apply",
                "docs/workflows.md#production-generate-and-migrate"),
    "check": ("trimtab check    # in CI: the folder matches trimtab.sum",
              "docs/workflows.md#production-generate-and-migrate"),
    "status": ("trimtab status --json", "docs/workflows.md#production-generate-and-migrate"),
    "export": ("trimtab export --idempotent -o INSTALL.sql",
               "docs/workflows.md#installsql-trimtab-export---idempotent"),
    "reset": ("trimtab reset --yes", "docs/workflows.md#development-push"),
    "lsp": ("trimtab lsp --stdio    # what editors run", "docs/lsp.md"),
    "studio": ("trimtab studio --read-only", "docs/studio.md"),
    "db": ("trimtab db url    # connect psql or a GUI client", "docs/workflows.md"),
    "completion": ("trimtab completion bash > ~/.local/share/bash-completion/completions/"
                   "trimtab", "docs/workflows.md#shell-completion"),
}


def _verbosity_options(p: argparse.ArgumentParser, sub: Any) -> None:
    """-q/-v before or after the command (``trimtab -q migrate``, ``trimtab migrate -q``)."""
    for parser in (p, *sub.choices.values()):
        top = parser is p  # a subcommand's default would overwrite the top-level flag
        group = parser.add_mutually_exclusive_group()
        group.add_argument("-q", "--quiet", dest="verbosity", action="store_const",
                           const=cliout.QUIET,
                           default=cliout.NORMAL if top else argparse.SUPPRESS,
                           help="only errors, warnings and the result")
        group.add_argument("-v", "--verbose", dest="verbosity", action="store_const",
                           const=cliout.VERBOSE, default=argparse.SUPPRESS,
                           help="also the SQL sent and how long the command took")


def _schema_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schema", metavar="PATH", help="schema .sql file or folder")


def _url_option(parser: argparse.ArgumentParser, scratch: bool = False) -> None:
    parser.add_argument("--url", metavar="URL", help=(
        "database whose server hosts the scratch databases" if scratch
        else "database URL (overrides configuration)"))


_LONG_RUNNING = frozenset({"lsp", "studio"})

# --json: every document carries this version at its top level ("format"); a change that
# removes or retypes a key raises it (docs/ci.md describes each command's shape).
JSON_FORMAT = 1
# What `status --exit-code` can check; problems that stop migrate always exit 1.
STATUS_CHECKS = ("problems", "drift", "pending", "unmigrated")


def _status_checks(text: str) -> frozenset[str]:
    asked = frozenset(w.strip() for w in text.split(",") if w.strip())
    if not asked or asked - set(STATUS_CHECKS):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(STATUS_CHECKS)}, got {text!r}")
    return asked


def _print_json(command: str, doc: dict[str, Any]) -> None:
    """One JSON document on stdout: the format version, the command, its data."""
    print(json.dumps({"format": JSON_FORMAT, "command": command, **doc}, indent=2))


def _json_command(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action and args.command in ("migrate", "db") \
        else args.command


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cliout.set_level(args.verbosity)
    started = time.monotonic()
    try:
        return _run(args)
    finally:
        if cliout.level() >= cliout.VERBOSE and args.command not in _LONG_RUNNING:
            err.print(f"[dim]{args.command} took {time.monotonic() - started:.2f} s[/]")


def _run(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "push": _push, "generate": _generate, "migrate": _migrate, "check": _check,
        "status": _status, "export": _export, "reset": _reset, "db": _db, "lsp": _lsp,
        "studio": _studio, "completion": _completion, "fmt": _fmt,
    }
    if args.command not in _LONG_RUNNING:
        # A one-shot command builds a few hundred thousand model objects, nearly all of
        # them acyclic and alive until exit; the collector's passes over them cost 10% of
        # a 1,000-table generate and free nothing (peak memory is the same without them).
        gc.disable()
    try:
        return commands[args.command](args)
    except TrimtabError as e:
        if getattr(args, "json", False):  # machines get the error as data too
            _print_json(_json_command(args), {"error": e.as_dict()})
        label = "refused" if isinstance(e, ConsentRequired) else "error"
        err.print(f"[bold red]{label}:[/] {escape(str(e))}")
        if isinstance(e, ConsentRequired) and _target and _target["label"] not in str(e):
            err.print(f"  {_target['what']}: {escape(_target['label'])}")
        return 1
    except runner.Interrupted as e:  # migrate: say exactly what this run did
        if getattr(args, "json", False):
            _print_json(_json_command(args), {"error": {
                "type": "Interrupted", "message": "interrupted", "file": None, "line": None,
                "column": None, "object": None, "hint": None, "applied": list(e.applied),
                "current": e.current, "outcome": e.outcome, "not_run": list(e.not_run)}})
        if e.applied:
            err.print(f"interrupted: {plural(len(e.applied), 'migration')} applied by this run: "
                      + escape(", ".join(e.applied)))
        else:
            err.print("interrupted: no migration was applied by this run")
        if e.current:
            err.print(f"  {escape(e.current)}: {escape(e.outcome or '')}")
        if e.not_run:
            err.print(f"  not run: {escape(', '.join(e.not_run))}")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted: nothing was applied")
        return 130
    finally:
        _say_embedded_running(args)


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path.cwd(), schema=getattr(args, "schema", None),
                       url=getattr(args, "url", None))


# What this run changes ("database", label), named once: before the first question, in a
# refusal, or as the first line of the result, so that nobody consents to the wrong one.
_target: dict[str, str] = {}


def _set_target(what: str, label: str) -> None:
    _target.update(what=what, label=label, named="")


def _name_target(asking: bool = False) -> None:
    """``database: ...`` unless already said; under -q only before a question."""
    if not _target or _target["named"] or (not asking and cliout.level() < cliout.NORMAL):
        return
    out.print(f"[dim]{_target['what']}:[/] {escape(_target['label'])}")
    _target["named"] = "yes"


# -- push ------------------------------------------------------------------------------------


def _push(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.exit_code and not args.dry_run:
        err.print("[bold red]error:[/] --exit-code only goes with --dry-run")
        return 2
    if not args.dry_run and not args.json and (same := fingerprint.recorded_push(cfg)):
        # The no-op its record says, without loading the engine (sources/fingerprint.py).
        _set_target("database", same.label)
        for w in same.warnings:
            err.print(f"[yellow]warning:[/] {escape(w)}")
        _name_target()
        out.print("[green]Nothing to do:[/] the database matches the schema.")
        for note in same.notes:
            info.print(f"[dim]note:[/] {escape(note)}")
        if same.unmanaged:
            info.print(f"[dim]not managed by trimtab: {escape(', '.join(same.unmanaged))}[/]")
        return 0
    _set_target("database", engine.target_label(cfg))
    interactive = _interactive() and not args.json
    result = engine.push(cfg, dry_run=args.dry_run, force=args.force,
                         consent=_consent("Apply a plan that loses data?", cfg.drizzle)
                         if interactive else None,
                         renames=_ask_renames(cfg) if interactive and not args.dry_run
                         else None,
                         overtake=_ask_overtake if interactive else None,
                         rewrite=_ask_rewrite("Apply it as it is?") if interactive else None)
    plan = result.plan
    if args.json:
        doc: dict[str, Any] = {
            "database": result.target.label, "applied": result.applied, **plan.to_json(),
            "rename_candidates": [engine.candidate_json(c) for c in result.candidates],
            "online": [{"phase": p.name, "transaction": p.transactional,
                        "statements": [*(result.online_settings if p.transactional else ()),
                                       *(sql for _, sql in changes.batches(p.steps))]}
                       for p in result.online],
            "notes": list(result.notes)}
        _print_json("push", doc)
        return 1 if (args.exit_code and plan) else 0
    for c in result.candidates:
        err.print(f"[yellow]possible rename:[/] {escape(engine.candidate_text(c))} (planned "
                  f"as drop + create; add `{escape(engine.hint_comment(c, cfg.drizzle))}` to "
                  "rename)")
    if args.dry_run:
        for note in result.notes:  # stdout is the SQL alone
            info_err.print(f"[dim]note:[/] {escape(note)}")
        if plan.unmanaged:
            info_err.print(f"[dim]not managed by trimtab: {escape(', '.join(plan.unmanaged))}[/]")
        if result.online:
            sys.stdout.write(_commented_phases(result.online, result.online_settings))
        elif plan:
            sys.stdout.write(_commented_sql(plan))
        return 1 if (args.exit_code and plan) else 0

    for w in result.target.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    _target["label"] = result.target.label
    _name_target()
    if not plan:
        out.print("[green]Nothing to do:[/] the database matches the schema.")
        for note in result.notes:  # the reader's warnings matter most when nothing moves
            info.print(f"[dim]note:[/] {escape(note)}")
        _print_unmanaged(plan)
        return 0
    # shown before the question when there was one; -q: the result line alone
    if not (interactive and plan.data_loss) and cliout.level() >= cliout.NORMAL:
        _print_plan(plan, cfg.drizzle)
    out.print(f"[green]Applied {plural(len(plan.steps), 'change')}[/] in "
              f"{result.seconds:.2f} s.")
    for note in result.notes:
        info.print(f"[dim]note:[/] {escape(note)}")
    _print_unmanaged(plan)
    return 0


def _ask_rewrite(question: str) -> Callable[[tuple[Rewrite, ...]], bool]:
    """On a terminal: say which tables a change rewrites, and the steps that avoid it."""
    def ask(flagged: tuple[Rewrite, ...]) -> bool:
        for r in flagged:
            err.print(f"[yellow]rewrites {escape(r.table)}:[/] {escape(r.message)}; it holds "
                      "ACCESS EXCLUSIVE (no reads or writes) while it runs. Without the long "
                      "lock, in steps:")
            for line in r.recipe:
                err.print(f"    {escape(line)}")
        return Confirm.ask(f"[bold]{question}[/]", default=False)
    return ask


def _ask_overtake(names: tuple[str, ...]) -> bool:
    _name_target(asking=True)
    err.print(f"[yellow]warning:[/] {escape(engine.overtake_text(names))}")
    err.print("  then run `trimtab migrate --mark-applied` to record "
              f"{'them' if len(names) > 1 else 'it'} (or answer no and run `trimtab migrate` "
              "first)")
    return Confirm.ask("[bold]Push anyway?[/]", default=False)


def _commented_sql(plan: Plan) -> str:
    """The plan's SQL, each step's hazards above it as comments (still a valid script)."""
    lines = []
    for step in plan.steps:
        lines += _hazard_comments(step)
        lines += [f"{statement};\n" for statement in step.sql]
    return "".join(lines)


def _hazard_comments(step: Step) -> list[str]:
    return [f"-- {h.severity}: {h.text} [{h.code}"
            f"{', needs consent' if h.needs_consent else ''}]\n" for h in step.hazards]


def _commented_phases(phases: tuple[Phase, ...], settings: tuple[str, ...]) -> str:
    """The online-safe phases push runs, as a script psql runs the same way: each
    transactional phase between BEGIN and COMMIT, the concurrent builds outside one."""
    lines = []
    for k, phase in enumerate(phases, 1):
        how = "one transaction" if phase.transactional else "no transaction"
        lines.append(f"-- phase {k} of {len(phases)}: {phase.name} ({how})\n")
        if phase.transactional:
            lines += ["BEGIN;\n", *(f"{s};\n" for s in settings)]
        for group, sql in changes.batches(phase.steps):
            lines += [c for s in group for c in _hazard_comments(s)]
            lines.append(f"{sql};\n")
        if phase.transactional:
            lines.append("COMMIT;\n")
    return "".join(lines)


def _ask_renames(cfg: Config) -> Callable[[list[Rename]], list[Rename]]:
    """On a terminal: ask about each possible rename, then offer to write the answers
    into the schema file as hints, so that the next run (and CI) needs no question."""
    def ask(pending: list[Rename]) -> list[Rename]:
        _name_target(asking=True)
        accepted: list[Rename] = []
        for r in pending:
            out.print(f"[bold]{escape(engine.candidate_text(r))}[/]")
            answer = Prompt.ask("  renamed, or dropped and created?",
                                choices=["rename", "drop"])
            if answer == "rename":
                accepted.append(r)
        if not accepted:
            return accepted
        if Confirm.ask("Write the rename hints into the schema file?", default=True):
            for path in engine.write_hints(cfg, accepted):
                out.print(f"  wrote hints into {escape(str(path))}")
        return accepted
    return ask


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _consent(question: str, ts: bool = False) -> Callable[[Plan], bool]:
    """Show the plan and ask, on a terminal; elsewhere the answer is no."""
    def ask(plan: Plan) -> bool:
        if not _interactive():
            return False
        _name_target(asking=True)
        _print_plan(plan, ts)
        return Confirm.ask(f"[bold]{question}[/]", default=False)
    return ask


# -- generate --------------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _set_target("migrations folder", str(cfg.migrations_dir))
    if not args.json and not args.custom and (
            said := fingerprint.recorded_generate(cfg)) is not None:
        # The no-op its record says, without loading the engine (sources/fingerprint.py).
        out.print("[green]Nothing to generate:[/] the migrations already produce the schema.")
        for note in said:
            info.print(f"[dim]note:[/] {escape(note)}")
        return 0
    interactive = _interactive() and not args.json
    result = engine.generate(cfg, name=args.name, custom=args.custom, force=args.force,
                             consent=_consent("Write a migration that loses data?", cfg.drizzle)
                             if interactive else None,
                             renames=_ask_renames(cfg) if interactive else None,
                             rewrite=_ask_rewrite("Write it as it is (flagged in the file)?")
                             if interactive else None)
    m = result.migration
    if args.json:
        _print_json("generate", _generate_json(cfg, result))
        return 0
    if m is None:
        out.print("[green]Nothing to generate:[/] the migrations already produce the schema.")
        for note in result.notes:
            info.print(f"[dim]note:[/] {escape(note)}")
        return 0
    rel = m.path.relative_to(cfg.root) if m.path.is_relative_to(cfg.root) else m.path
    if args.custom:
        out.print(f"[green]Wrote[/] {escape(str(rel))}: an empty migration to fill in.")
        return 0
    n = len(result.plan.steps)
    if len(result.migrations) > 1:
        out.print(f"[green]Wrote[/] {len(result.migrations)} migrations "
                  f"({plural(n, 'change')}), online-safe: each step takes its "
                  "locks briefly (online = false in the config writes one plain file):")
        for written in result.migrations:
            path = written.path
            shown = path.relative_to(cfg.root) if path.is_relative_to(cfg.root) else path
            how = "" if written.transactional else " (no transaction)"
            info.print(f"  {escape(str(shown))}{how}")
    else:
        out.print(f"[green]Wrote[/] {escape(str(rel))} ({plural(n, 'change')}):")
    # One print for the lot: rich's cost is per call (a quarter of a second for the
    # thousands of lines of a 1,000-table first migration).
    lines: list[str] = []
    level = cliout.level()
    for step in result.plan.steps:
        if level >= cliout.NORMAL:
            lines.append(f"  {escape(step.change.describe())}")
            lines += (ln for h in step.hazards for ln in _hazard_lines(h, "      ", cfg.drizzle))
        if level >= cliout.VERBOSE:
            for statement in step.sql:
                text = "\n".join("      " + line for line in f"{statement};".splitlines())
                lines.append(f"[dim]{escape(text)}[/]")
    if lines:
        out.print("\n".join(lines))
    for r in result.rewrites:
        out.print(f"[yellow]rewrites {escape(r.table)}:[/] {escape(r.message)}; it holds "
                  "ACCESS EXCLUSIVE while it runs (flagged in the file). On a busy table, "
                  "instead:")
        for line in r.recipe:
            out.print(f"    {escape(line)}")
    down = migfolder.down_path(cfg.migrations_dir, m.tag)
    shown = down.relative_to(cfg.root) if down.is_relative_to(cfg.root) else down
    info.print("\n".join([
        f"[dim]down:[/] {escape(str(shown))} (trimtab migrate down undoes it)",
        *(f"  [yellow]{escape(said)}[/]" for said in result.down_hazards),
        *(f"[dim]note:[/] {escape(note)}" for note in result.notes)]))
    return 0


def _generate_json(cfg: Config, result: engine.GenerateResult) -> dict[str, Any]:
    def shown(path: Path) -> str:
        return str(path.relative_to(cfg.root) if path.is_relative_to(cfg.root) else path)
    m = result.migration
    down = migfolder.down_path(cfg.migrations_dir, m.tag) if m is not None else None
    return {
        "written": [{"name": w.name, "path": shown(w.path), "transactional": w.transactional}
                    for w in (result.migrations or ((m,) if m is not None else ()))],
        "down": shown(down) if down is not None and down.exists() else None,
        **result.plan.to_json(),
        "rewrites": [{"table": r.table, "message": r.message, "recipe": list(r.recipe)}
                     for r in result.rewrites],
        "down_hazards": list(result.down_hazards),
        "notes": list(result.notes),
    }


# -- migrate, check, status ----------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.fleet or args.targets:
        return _migrate_fleet(cfg, args)
    if args.exit_code and not args.dry_run:
        err.print("[bold red]error:[/] --exit-code only goes with --dry-run")
        return 2
    _set_target("database", engine.target_label(cfg))
    if args.action == "rebase":
        return _rebase(cfg, args.json)
    if args.action == "down":
        return _migrate_down(cfg, args)
    if args.to is not None or args.steps is not None or args.force:
        raise ConfigError("--to, --steps and --force go with `trimtab migrate down`")
    backup: dict[str, str] | None = None
    if not args.dry_run and (args.backup is not None or cfg.backup):
        made, _ = engine.backup(cfg, Path(args.backup) if args.backup else None)
        backup = {"path": str(made.path), "restore": made.restore}
        if not args.json:
            out.print(f"[green]Backup:[/] {escape(str(made.path))} "
                      f"(pg_dump {escape(str(made.pg_dump))})")
            out.print(f"  restore it with: {escape(made.restore)}")
    # --json: stdout is the document alone (a lock retry is said on stderr). Started with
    # the first statement, not before: a dry run or a folder with nothing pending draws no
    # bar, so it sends the terminal no cursor codes either.
    from rich.progress import BarColumn, Progress, TextColumn  # migrate alone draws one

    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total} statements"),
                        console=err if args.json else out,
                        transient=True, disable=args.json or not cliout.live(out))
    try:
        tasks: list[TaskID] = []  # added with its first count: no "0/None" bar before it

        def on_progress(m: Migration, done: int, total: int) -> None:
            if not tasks:
                progress.start()
                tasks.append(progress.add_task(m.name, total=total))
            progress.update(tasks[0], description=m.name, completed=done, total=total)

        def on_retry(m: Migration, attempt: int, retries: int, delay: float) -> None:
            progress.console.print(
                f"[yellow]{escape(m.name)}: gave up waiting for a lock (lock_timeout); rolled "
                f"back, retrying in {delay:g} s ({attempt} of {retries})[/]")
            progress.console.file.flush()  # seen now, not when the run ends

        result, target = engine.migrate(cfg, dry_run=args.dry_run,
                                        allow_out_of_order=args.allow_out_of_order,
                                        mark_applied=args.mark_applied,
                                        on_progress=on_progress,
                                        resume_after=args.resume_after, on_retry=on_retry)
    finally:
        progress.stop()
    if args.json:
        _print_json("migrate", {
            "database": target.label, "dry_run": args.dry_run, "backup": backup,
            "already_applied": result.already_applied,
            "resumed": {"migration": result.resumed[0], "after": result.resumed[1]}
            if result.resumed else None,
            "runs": [_run_json(r) for r in result.runs]})
        return 1 if args.exit_code and result.runs else 0
    _target["label"] = target.label
    _name_target()
    if result.resumed:
        name, after = result.resumed
        out.print(f"resumed {escape(name)} after its statement {after}")
    if not result.runs:
        out.print(f"[green]Up to date:[/] {plural(result.already_applied, 'migration')} "
                  f"{'was' if result.already_applied == 1 else 'were'} applied, "
                  "none pending.")
        return 0
    # The statements are only shown for a dry run: reading the folder again costs.
    shown = args.dry_run or cliout.level() >= cliout.VERBOSE  # -v: the SQL sent
    folder = {m.name: m for m in migfolder.read_folder(cfg.migrations_dir).migrations} \
        if shown else {}
    for run in result.runs:
        detail = f" ({plural(run.statements, 'statement')}, {run.seconds:.2f} s)" if (
            run.status == "applied") else ""
        info.print(f"  {run.status:<12} {escape(run.name)}{detail}")
        # what would run (or, with -v, ran), statement by statement
        if run.name in folder and (args.dry_run or run.status == "applied"):
            for st in folder[run.name].statements:
                text = "\n".join("      " + line for line in f"{st.text};".splitlines())
                info.print(f"[dim]{escape(text)}[/]")
    done = sum(1 for r in result.runs if r.status == "applied")
    if args.dry_run:
        out.print(f"{plural(len(result.runs), 'migration')} would be applied.")
        return 1 if args.exit_code else 0
    elif done:
        out.print(f"[green]Applied {plural(done, 'migration')}.[/]")
    return 0


def _run_json(run: MigrationRun) -> dict[str, Any]:
    return {"name": run.name, "status": run.status, "statements": run.statements,
            "seconds": round(run.seconds, 3)}


def _rebase(cfg: Config, as_json: bool = False) -> int:
    result = engine.rebase(cfg)
    if as_json:
        _print_json("migrate rebase", {
            "renamed": [{"from": old, "to": new} for old, new in result.renamed],
            "notes": list(result.notes)})
        return 0
    if not result.renamed:
        out.print("Nothing to rebase: no two migrations share a number.")
        return 0
    for old, new in result.renamed:
        info.print(f"  renamed  {escape(old)} -> {escape(new)}")
    for note in result.notes:
        info.print(f"[dim]note:[/] {escape(note)}")
    out.print(f"[green]Rebased {plural(len(result.renamed), 'migration')}[/] after the "
              "merged ones; their replay produces the schema file. Stage the folder: git add "
              f"{escape(str(cfg.migrations_dir))}")
    return 0


def _migrate_down(cfg: Config, args: argparse.Namespace) -> int:
    backup: dict[str, str] | None = None
    if not args.dry_run and (args.backup is not None or cfg.backup):
        made, _ = engine.backup(cfg, Path(args.backup) if args.backup else None)
        backup = {"path": str(made.path), "restore": made.restore}
        if not args.json:
            out.print(f"[green]Backup:[/] {escape(str(made.path))}")
            out.print(f"  restore it with: {escape(made.restore)}")
    if args.mark_applied or args.resume_after is not None or args.allow_out_of_order:
        raise ConfigError("`trimtab migrate down` takes --to, --steps, --force and --dry-run")

    def consent(losses: list[str]) -> bool:
        if not _interactive() or args.json:
            return False
        _name_target(asking=True)
        for line in losses:
            out.print(f"  [red]{escape(line)}[/]")
        return Confirm.ask("[bold]Undo, losing this data?[/]", default=False)

    result, target = engine.migrate_down(cfg, to=args.to, steps=args.steps,
                                         dry_run=args.dry_run, force=args.force,
                                         consent=consent)
    if args.json:
        _print_json("migrate down", {
            "database": target.label, "dry_run": args.dry_run, "backup": backup,
            "runs": [_run_json(r) for r in result.runs], "losses": list(result.losses)})
        return 1 if args.exit_code and result.runs else 0
    _target["label"] = target.label
    _name_target()
    if not result.runs:
        out.print("[green]Nothing to undo.[/]")
        return 0
    for run in result.runs:
        info.print(f"  {run.status:<12} {escape(run.name)}")
    for line in result.losses:
        out.print(f"  [yellow]{escape(line)}[/]")
    if args.dry_run:
        out.print(f"{plural(len(result.runs), 'down migration')} would run.")
        return 1 if args.exit_code else 0
    else:
        out.print(f"[green]Undid {plural(len(result.runs), 'migration')};[/] `trimtab migrate` "
                  f"applies {'it' if len(result.runs) == 1 else 'them'} again.")
    return 0


def _check(args: argparse.Namespace) -> int:
    cfg = load_config(Path.cwd())
    if args.update_sum:
        migfolder.update_sum(cfg.migrations_dir)
        out.print(f"rewrote {escape(str(migfolder.sum_path(cfg.migrations_dir)))}")
    problems = migfolder.check(cfg.migrations_dir)
    if not args.json:
        for note in migfolder.drizzle_notes(cfg.migrations_dir):
            info.print(f"[dim]note:[/] {escape(note)}")
    if args.json:
        _print_json("check", {"folder": str(cfg.migrations_dir), "problems": [
            {"message": p.message, "file": p.file, "line": p.line, "hint": p.hint}
            for p in problems]})
        return 1 if problems else 0
    if not problems:
        out.print(f"[green]OK:[/] {escape(str(cfg.migrations_dir))} is consistent.")
        return 0
    for p in problems:
        where = f"{p.file}:{p.line}: " if p.file and p.line else (f"{p.file}: " if p.file
                                                                  else "")
        hint = f" {p.hint}" if p.hint else ""
        err.print(f"[bold red]problem:[/] {escape(where + p.message + hint)}")
    return 1


def _status(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.fleet or args.targets:
        return _status_fleet(cfg, args)
    # The last status its record says, without loading the engine (sources/fingerprint.py).
    # Not for the embedded server (the engine starts it): no record is read there either.
    s = fingerprint.recorded_status(cfg) or engine.status(
        cfg, record=cfg.database_url is not None).view()
    # What is not clean, by the names `--exit-code` takes.
    refuses = s["migrate_refuses"]
    code = 1 if refuses or (args.exit_code and set(s["found"]) & args.exit_code) else 0
    if args.json:
        _print_json("status", {k: s[k] for k in (
            "database", "not_in_a_migration", "applied", "pending", "problems", "drift",
            "folder_problems", "notes", "migrate_refuses", "already_made", "found")})
        return code
    _set_target("database", s["database"])
    _name_target()
    n = len(s["changes_text"])
    if n:
        out.print(f"[yellow]schema file:[/] {plural(n, 'change')} not in a migration "
                  "(trimtab generate):")
        for line in s["changes_text"]:
            out.print(f"  {escape(line)}")
    else:
        out.print("[green]schema file:[/] every change is in a migration")
    out.print(f"[bold]migrations:[/] {len(s['applied'])} applied, {len(s['pending'])} pending")
    for name in s["pending"]:
        out.print(f"  pending  {escape(name)}")
    if s["made_text"]:
        out.print(f"  [yellow]{escape(s['made_text'])}[/]")
    for problem in s["problems"] + s["folder_problems_text"]:
        out.print(f"  [red]problem[/]  {escape(problem)}")
    if s["drift_text"]:
        out.print("[red]drift:[/] the database differs from its applied migrations:")
        for line in s["drift_text"]:
            out.print(f"  {escape(line)}")
    else:
        out.print("[green]drift:[/] none, the database is what its applied migrations made")
    for note in s["notes"]:
        info.print(f"[dim]note:[/] {escape(note)}")
    if refuses:
        out.print("[red]trimtab migrate refuses to run until the problems above are fixed[/]")
        return 1
    return code


def _export(args: argparse.Namespace) -> int:
    script, warnings = engine.export_script(_config(args), idempotent=args.idempotent)
    if args.json:  # the script as a string, so that the warnings travel with it
        if args.output:
            write_file(Path(args.output), script.encode("utf-8"))
        _print_json("export", {"output": args.output, "idempotent": args.idempotent,
                               "script": None if args.output else script,
                               "warnings": list(warnings)})
        return 0
    for w in warnings:  # stderr: stdout is the script alone
        err.print(f"[yellow]warning:[/] {escape(w)}")
    if args.output:
        write_file(Path(args.output), script.encode("utf-8"))
        info_err.print(f"wrote {escape(args.output)}")
    else:
        sys.stdout.write(script)
    return 0


def _reset(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _set_target("database", engine.target_label(cfg))
    if not args.yes:
        if not _interactive() or args.json:
            if args.json:
                _print_json("reset", {"error": ConsentRequired(
                    f"reset drops every managed object of {_target['label']}",
                    hint="pass --yes to run it without a terminal").as_dict()})
            err.print(f"[bold red]refused:[/] reset drops every managed object of "
                      f"{escape(_target['label'])}; pass --yes to run it without a terminal")
            return 1
        _name_target(asking=True)
        if not Confirm.ask("[bold]Drop every managed object and rebuild?[/]", default=False):
            return 1
    r = engine.reset(cfg, migrations=args.migrations, force=args.force)
    if args.json:
        _print_json("reset", {"database": r.target.label, "dropped": r.dropped,
                              "rebuilt_with": r.rebuilt_with, "changes": r.changes,
                              "seeded": str(r.seeded) if r.seeded else None,
                              "notes": list(r.notes)})
        return 0
    _target["label"] = r.target.label
    _name_target()
    out.print(f"dropped {plural(r.dropped, 'object change')}; rebuilt from the {r.rebuilt_with} "
              f"({r.changes} applied)")
    if r.seeded:
        out.print(f"seeded from {escape(str(r.seeded))}")
    for note in r.notes:
        info.print(f"[dim]{escape(note)}[/]")
    return 0


SQL_SHOWN_UP_TO = 200  # changes; past that the listing is for reading, the SQL is noise


def _print_plan(plan: Plan, ts: bool = False) -> None:
    """The plan grouped by the object each change belongs to (a table and its columns,
    constraints and indexes together), with each change's SQL unless the plan is long.
    ``--dry-run`` prints the SQL in execution order."""
    n = len(plan.steps)
    with_sql = n <= SQL_SHOWN_UP_TO or cliout.level() >= cliout.VERBOSE
    lines = [f"[bold]Plan: {plural(n, 'change')}[/]"]
    groups: dict[str, list[Step]] = {}
    for step in plan.steps:
        groups.setdefault(_owner(step), []).append(step)
    for owner, steps in groups.items():
        if not with_sql:  # a long plan: one line per object, and every hazard
            lines.append(_group_line(owner, steps))
            for step in steps:
                for h in step.hazards:
                    lines.append(f"      {escape(step.change.describe())}")
                    lines += _hazard_lines(h, "        ", ts)
            continue
        lines.append(f"\n[bold]{escape(owner)}[/]")
        for step in steps:
            ch = step.change
            sign = _SIGN.get(ch.kind.value.split("_", 1)[0], "~")
            style = "red" if step.data_loss else {"+": "green", "-": "yellow"}.get(sign, "cyan")
            mark = "  [bold red]DATA LOSS[/]" if step.data_loss else ""
            lines.append(f"  [{style}]{sign} {escape(ch.describe())}[/]{mark}")
            for h in step.hazards:
                lines += _hazard_lines(h, "      ", ts)
            if with_sql:
                for statement in step.sql:
                    text = "\n".join("      " + line for line in f"{statement};".splitlines())
                    lines.append(f"[dim]{escape(text)}[/]")
    if not with_sql:
        lines.append(f"\n[dim]{n} changes: one line per object; `--dry-run` prints the "
                     "SQL.[/]")
    if plan.data_loss:
        lines.append(f"\n[bold red]{plural(len(plan.data_loss), 'change')} "
                     f"{'loses' if len(plan.data_loss) == 1 else 'lose'} data.[/]")
    out.print("\n".join(lines))  # one call: rich renders a long plan far faster at once


def _group_line(owner: str, steps: list[Step]) -> str:
    """``+ public.orders: create table, 2 create index, add constraint``."""
    counts: dict[str, int] = {}
    for step in steps:
        what = step.change.kind.value.replace("_", " ")
        counts[what] = counts.get(what, 0) + 1
    signs = {_SIGN.get(s.change.kind.value.split("_", 1)[0], "~") for s in steps}
    sign = signs.pop() if len(signs) == 1 else "~"
    style = "red" if any(s.data_loss for s in steps) else {
        "+": "green", "-": "yellow"}.get(sign, "cyan")
    what = ", ".join(f"{k}" if c == 1 else f"{c} {k}" for k, c in counts.items())
    return f"  [{style}]{sign} {escape(owner)}[/]: {escape(what)}"


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _hazard_lines(h: Hazard, indent: str, ts: bool = False) -> list[str]:
    """A hazard and, when it blocks, its fix (``ts``: for a Drizzle schema, `//` hints)."""
    style = _SEVERITY_STYLE[h.severity]
    lock = f" [dim](lock: {escape(h.lock)})[/]" if h.lock and h.category == "locks" else ""
    lines = [f"{indent}[{style}]{h.severity}[/] {escape(h.text)} [dim]\\[{h.code}][/]{lock}"]
    if h.blocking and h.fix:
        lines.append(f"{indent}  [dim]fix:[/] {escape(engine.fix_text(h, ts))}")
    return lines


def _print_hazard(h: Hazard, indent: str, ts: bool = False) -> None:
    out.print("\n".join(_hazard_lines(h, indent, ts)))


def _owner(step: Step) -> str:
    t = step.change.target
    if t[0] in ("comment", "grant"):
        return "comments and privileges"
    if t[0] in ("column", "constraint", "trigger", "policy") or (
            t[0] in ("index", "cluster") and step.change.parent is not None):
        parent = step.change.parent
        if isinstance(parent, (model.Table, model.View)):
            return f"{parent.schema}.{parent.name}"
        return ".".join(t[1:3])
    return ".".join(t[1:3]) if t[0] != "schema" else t[1]


def _print_unmanaged(plan: Plan) -> None:
    if plan.unmanaged:
        info.print(f"[dim]not managed by trimtab: {escape(', '.join(plan.unmanaged))}[/]")


def _lsp(args: argparse.Namespace) -> int:
    from trimtab.lsp.server import main as serve

    return serve()


def _fmt(args: argparse.Namespace) -> int:
    from trimtab.sqlformat import format_sql

    files = args.files or [f for f in engine.schema_files(_config(args))
                           if f.lower().endswith(".sql")]
    pending = 0
    for f in files:
        try:
            with open(f, encoding="utf-8", newline="") as fh:  # CRLF stays CRLF
                text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            raise TrimtabError(f"{f}: cannot read it: {e}") from e
        new = format_sql(text)
        if new == text:
            continue
        pending += 1
        if args.check:
            out.print(f"would reformat {escape(f)}")
        else:
            with open(f, "w", encoding="utf-8", newline="") as fh:
                fh.write(new)
            out.print(f"formatted {escape(f)}")
    return 1 if args.check and pending else 0


def _studio(args: argparse.Namespace) -> int:
    from trimtab.studio import Server

    server = Server(_config(args), port=args.port, read_only=args.read_only,
                    allow_writes=args.allow_writes)
    for w in server.target.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    err.print(f"[dim]database:[/] {escape(server.target.label)}")
    if server.read_only:
        err.print(f"[yellow]read-only:[/] {escape(server.read_only)}")

    def ready() -> None:
        # One line per link: editors read it. A link opens the studio once, within two
        # minutes; each line read on stdin (Enter, or an editor asking) prints a new one.
        print(f"studio: {server.new_link()}", flush=True)
        err.print("[dim]each link opens the studio once: Enter prints a new one; "
                  "Ctrl+C stops the studio[/]")
        if not args.no_browser:
            server.open_browser()
        threading.Thread(target=new_links, daemon=True, name="studio-links").start()

    def new_links() -> None:
        while sys.stdin is not None:
            try:
                line = sys.stdin.readline()
            except OSError:  # a terminal read from the background (SIGTTIN ignored)
                time.sleep(1)
                continue
            except ValueError:  # stdin closed
                return
            if not line:  # end of input: no more links asked for
                return
            print(f"studio: {server.new_link()}", flush=True)

    if hasattr(signal, "SIGTTIN"):
        # Run in the background (`trimtab studio &`), a read of the terminal would stop
        # the whole studio; ignored, it fails and is tried again.
        signal.signal(signal.SIGTTIN, signal.SIG_IGN)
    server.serve(on_ready=ready)  # until Ctrl+C
    return 0


def _completion(args: argparse.Namespace) -> int:
    import shtab  # only here: every other command starts without it

    sys.stdout.write(shtab.complete(_parser(), shell=args.shell))
    return 0


# -- db --------------------------------------------------------------------------------------


def _say_embedded_running(args: argparse.Namespace) -> None:
    """Once, by the command that started it: the embedded server outlives the command."""
    if args.command in _LONG_RUNNING or args.command == "db":
        return
    with contextlib.suppress(TrimtabError, OSError):
        cfg = load_config(Path.cwd())
        if embedded.started_here(cfg.root):
            idle = cfg.embedded_idle_stop
            after = (f" (it stops itself after {_duration(idle)} without a client)"
                     if idle > 0 else "")
            err.print(f"[dim]embedded PostgreSQL still running; `trimtab db stop` stops it"
                      f"{after}[/]")


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def _db(args: argparse.Namespace) -> int:
    root = load_config(Path.cwd()).root
    if args.json:
        return _db_json(args, root)
    if args.action == "start":
        url = embedded.ensure_database(root)
        out.print(f"embedded PostgreSQL running in {embedded.data_dir(root)}")
        print(url)
    elif args.action == "stop":
        stopped = embedded.stop(root)
        out.print("stopped" if stopped else "not running")
    elif args.action == "clean":
        dropped = engine.drop_caches(load_config(Path.cwd()))
        out.print(f"dropped {len(dropped)} cached shadow database"
                  f"{'s' if len(dropped) != 1 else ''}")
    elif args.action == "url" and args.tcp:
        print(embedded.tcp_url(root, args.port))
        err.print(f"password: in {escape(str(root / embedded.STATE_DIR / embedded.PASSFILE))} "
                  "(pgpass format; psql reads it with PGPASSFILE)")
    elif args.action == "url":
        running = embedded.url(root)
        if running is None:
            err.print("the embedded server is not running: `trimtab db start` starts it")
            return 1
        print(running)
    else:
        st = embedded.status(root)
        out.print(f"data: {st.data_dir}")
        out.print(f"running: {'yes, pid ' + str(st.pid) if st.running else 'no'}")
        if st.url:
            out.print(f"url: {st.url}")
    return 0


def _db_json(args: argparse.Namespace, root: Path) -> int:
    command = f"db {args.action}"
    if args.action == "start":
        url = embedded.ensure_database(root)
        _print_json(command, {"data_dir": str(embedded.data_dir(root)), "url": url})
    elif args.action == "stop":
        _print_json(command, {"stopped": embedded.stop(root)})
    elif args.action == "clean":
        _print_json(command, {"dropped": engine.drop_caches(load_config(Path.cwd()))})
    elif args.action == "url":
        running = embedded.url(root)
        _print_json(command, {"url": running})
        return 0 if running else 1
    else:
        _print_json(command, embedded.status(root).as_dict())
    return 0


# -- fleets ----------------------------------------------------------------------------------


def _fleet_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fleet", action="store_true",
                   help="every target of trimtab.toml's [fleet] (databases or tenant schemas)")
    p.add_argument("--targets", metavar="FILE", type=Path,
                   help="with or without --fleet: the databases listed in FILE, one URL a line")
    p.add_argument("--concurrency", metavar="N", type=int,
                   help="with --fleet: targets at once (default: [fleet] concurrency, else 4)")
    if p.prog.endswith("migrate"):
        p.add_argument("--on-error", choices=["continue", "stop"],
                       help="with --fleet: go on with the other targets after a failure "
                       "(default), or start no other")


def _migrate_fleet(cfg: Config, args: argparse.Namespace) -> int:
    if args.action or args.mark_applied or args.resume_after is not None or args.backup \
            is not None or args.allow_out_of_order:
        raise ConfigError("--fleet runs pending migrations only: down, rebase, "
                          "--mark-applied, --resume-after, --backup and "
                          "--allow-out-of-order work on one database at a time")

    def on_event(label: str, what: str) -> None:
        if not args.json and what != "started":
            info_err.print(f"[dim]{escape(label)}:[/] {escape(what)}")

    r = engine.migrate_fleet(cfg, targets_file=args.targets, dry_run=args.dry_run,
                             concurrency=args.concurrency, on_error=args.on_error,
                             on_event=on_event)
    would = any(t.applied for t in r.targets)
    code = 0 if r.ok else 1
    if args.dry_run and args.exit_code and would:
        code = 1
    if args.json:
        _print_json("migrate fleet", {"fleet": [t.to_json() for t in r.targets],
                                "stopped": r.stopped, "ok": r.ok,
                                "seconds": round(r.seconds, 3)})
        return code
    for t in r.targets:
        color = "green" if t.ok else ("dim" if t.outcome == "not run" else "red")
        what = t.outcome + (f" {len(t.applied)}" if t.applied else "")
        line = f"[{color}]{what:<14}[/] {escape(t.label)}" + (" (canary)" if t.canary else "")
        out.print(line)
        if t.applied:
            info.print(f"               {escape(', '.join(t.applied))}")
        if t.error and t.outcome != "not run":
            out.print(f"               {escape(t.error)}")
    counts = ", ".join(f"{r.count(o)} {o}" for o in dict.fromkeys(t.outcome for t in r.targets))
    out.print(f"[bold]fleet:[/] {plural(len(r.targets), 'target')}: {counts} "
              f"({r.seconds:.1f} s)")
    if r.stopped:
        out.print(f"[red]stopped:[/] {escape(r.stopped)}")
    return code


def _status_fleet(cfg: Config, args: argparse.Namespace) -> int:
    rows = engine.status_fleet(cfg, targets_file=args.targets, concurrency=args.concurrency)
    found = sorted({name for s in rows for name, present in (
        ("problems", bool(s.problems or s.error or not s.reachable)),
        ("drift", bool(s.drift)), ("pending", bool(s.pending))) if present})
    refuses = any(s.problems or s.error or not s.reachable for s in rows)
    code = 1 if refuses or (args.exit_code and set(found) & args.exit_code) else 0
    if args.json:
        _print_json("status fleet", {"fleet": [s.to_json() for s in rows], "found": found})
        return code
    # One line a target, the label last: a URL is never cut to the terminal's width.
    out.print(f"[bold]{'applied':>7}  {'pending':>7}  {'drift':<11}  target[/]")
    for s in rows:
        if not s.reachable or s.error:
            what = "unreachable" if not s.reachable else "error"
            out.print(f"{'-':>7}  {'-':>7}  [red]{what:<11}[/]  {escape(s.label)}\n"
                      f"{'':20}{escape(s.error or '')}")
            continue
        drift = "not checked" if s.drift is None else ("[red]drifted    [/]" if s.drift
                                                       else "none       ")
        out.print(f"{s.applied:>7}  {len(s.pending):>7}  {drift}  {escape(s.label)}")
        for line in (s.drift or ()) + tuple(f"problem: {p}" for p in s.problems):
            out.print(f"{'':20}[red]{escape(line)}[/]")
    return code


if __name__ == "__main__":
    sys.exit(main())
