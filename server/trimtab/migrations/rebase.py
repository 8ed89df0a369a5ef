"""``trimtab migrate rebase``: two branches each added migrations after the same one; put
this branch's (the local ones) after the merged branch's, as ``git rebase`` puts commits.

Git leaves such a merge with both ``.sql`` files (different names, one number) and
conflicts in the three files both branches appended to: ``meta/_journal.json``,
``trimtab.sum`` and the snapshot of the shared number. Here each conflicted file is read
side by side (the text of each side of git's markers), the merged branch's journal and
snapshots are kept as they are, and the local migrations get the next numbers; the engine
then replays the result and writes it only when it still produces the schema file
(``engine.rebase``).

Which side is local: in a ``git merge`` the current branch is "ours" (above
``=======``); during a ``git rebase`` git swaps them, and so does this module. A journal
that already parses (conflicts resolved by keeping both entries) keeps the migration listed
first of each number, as ``check`` suggests, and moves the others last.

Pure file work, no database.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimtab.errors import SchemaError
from trimtab.migrations import folder as fm

__all__ = ["Rebase", "git_side", "has_markers", "plan_rebase", "side_of"]

_OURS, _BASE, _THEIRS, _END = "<<<<<<<", "|||||||", "=======", ">>>>>>>"


def has_markers(text: str) -> bool:
    return any(line.startswith(_OURS) for line in text.splitlines())


def side_of(text: str, side: str) -> str:
    """The text of one side ("ours" or "theirs") of git's conflict markers (diff3's base
    sections dropped); text without markers is returned as it is."""
    out: list[str] = []
    state = "both"
    for line in text.splitlines(keepends=True):
        if line.startswith(_OURS):
            state = "ours"
        elif line.startswith(_BASE) and state == "ours":
            state = "base"
        elif line.startswith(_THEIRS) and state in ("ours", "base"):
            state = "theirs"
        elif line.startswith(_END) and state == "theirs":
            state = "both"
        elif state in ("both", side):
            out.append(line)
    return "".join(out)


def git_side(path: Path) -> str:
    """The side of git's markers that holds this branch's changes: "theirs" while a
    ``git rebase`` replays this branch onto the other, else "ours"."""
    try:
        r = subprocess.run(["git", "rev-parse", "--git-path", "rebase-merge",
                            "--git-path", "rebase-apply"], cwd=path, capture_output=True,
                           text=True, check=False)
    except OSError:  # no git: a merge made elsewhere
        return "ours"
    if r.returncode != 0:
        return "ours"
    return "theirs" if any((path / p).exists() for p in r.stdout.split()) else "ours"


@dataclass(frozen=True)
class Move:
    old_tag: str
    new_tag: str
    new_idx: int


@dataclass(frozen=True)
class Rebase:
    path: Path
    journal: dict[str, Any]  # the rebased journal
    merged: tuple[str, ...]  # tags kept as they are, in order
    moves: tuple[Move, ...]  # the local migrations, renumbered, in order
    # The merged branch's text of each conflicted file (snapshots), by path
    resolved: tuple[tuple[Path, str], ...]

    @property
    def tags(self) -> tuple[str, ...]:
        return (*self.merged, *(m.new_tag for m in self.moves))


def _renamed(tag: str, number: int) -> str:
    m = re.match(r"^\d+(_.*)?$", tag)
    rest = (m.group(1) or "") if m else f"_{tag}"
    return f"{number:04d}{rest}"


def _journal(text: str, file: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{fm.JOURNAL} does not parse even side by side: {e.msg} (line "
                          f"{e.lineno})", file=file, line=e.lineno,
                          hint="resolve the journal by hand, keeping every entry of both "
                          "sides, then run this again") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list) or not all(
            isinstance(e, dict) and isinstance(e.get("tag"), str) for e in data["entries"]):
        raise SchemaError(f"{fm.JOURNAL} is not a migrations journal", file=file)
    return data


def plan_rebase(path: Path, local: str | None = None) -> Rebase | None:
    """What the rebase does, or None when no two migrations share a number (nothing to do).
    ``local``: the side of git's markers that is this branch's (default: ``git_side``)."""
    path = Path(path)
    journal_path = path / fm.JOURNAL
    try:
        text = journal_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    local = local or git_side(path)
    merged_side = "theirs" if local == "ours" else "ours"
    if has_markers(text):
        theirs = _journal(side_of(text, merged_side), str(journal_path))
        mine = _journal(side_of(text, local), str(journal_path))
        kept = list(theirs["entries"])
        known = {e["tag"] for e in kept}
        local_entries = [e for e in mine["entries"] if e["tag"] not in known]
        data = theirs
    else:
        data = _journal(text, str(journal_path))
        kept, local_entries, numbers = [], [], set()
        for e in data["entries"]:
            n = fm.migration_number(e["tag"])
            n = e.get("idx") if n is None else n
            # From the first repeated number on, everything is the local branch's.
            if local_entries or n in numbers:
                local_entries.append(e)
            else:
                numbers.add(n)
                kept.append(e)
    if not local_entries:
        return None
    top = max([-1, *(e["idx"] for e in kept if isinstance(e.get("idx"), int)),
               *(n for e in kept if (n := fm.migration_number(e["tag"])) is not None)])
    when = max([0, *(e["when"] for e in kept if isinstance(e.get("when"), int))])
    moves, entries = [], list(kept)
    for e in local_entries:
        top += 1
        new_tag = _renamed(e["tag"], top)
        old_when = e.get("when") if isinstance(e.get("when"), int) else 0
        when = max(when + 1, old_when)  # drizzle's migrator needs it increasing
        moves.append(Move(e["tag"], new_tag, top))
        entries.append({**e, "idx": top, "when": when, "tag": new_tag})
    resolved = []
    for meta in {path / "meta", path / fm.TRIMTAB_META}:
        for p in sorted(meta.glob("*_snapshot.json")) if meta.is_dir() else ():
            snap = p.read_text(encoding="utf-8", errors="replace")
            if has_markers(snap):
                resolved.append((p, side_of(snap, merged_side)))
    return Rebase(path, {**data, "entries": entries}, tuple(e["tag"] for e in kept),
                  tuple(moves), tuple(resolved))


def journal_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"
