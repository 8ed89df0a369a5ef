"""The project's ``.trimtab/`` folder: what one machine keeps for a project (no-op records,
backups, the embedded server's data and password). None of it belongs in git, whatever the
project's own ignores say, so the folder ignores itself before anything is written in it."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".trimtab"


def state_dir(root: Path) -> Path:
    """The project's state folder, made if needed, with the ``.gitignore`` that keeps all
    of it out of git."""
    state = Path(root).resolve() / STATE_DIR
    state.mkdir(exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return state


def prepare(path: Path) -> None:
    """Before writing ``path``: when it is inside a project's state folder, that folder
    exists and ignores itself (a path elsewhere, one the user chose, is left alone)."""
    for parent in Path(path).parents:
        if parent.name == STATE_DIR:
            state_dir(parent.parent)
            return
