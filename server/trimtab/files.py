"""Writing the user's files as an editor would, and all or nothing.

Each file is written to a temporary file in its own folder, flushed to disk, then renamed over
the target, so a reader never sees half a file. A new file gets the mode the umask gives
(0644 under umask 022); a rewritten file keeps its mode and owner. `write_files` writes
several files as one change: when any write fails (disk full, no permission, read-only
folder), every temporary file, renamed file and created folder is undone, the folder is
left as it was, and the error names the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from trimtab.errors import FileWriteError


@dataclass
class _Pending:
    path: Path
    temp: Path | None = None
    backup: Path | None = None  # a hard link to the file it replaces, to undo the rename
    existed: bool = False
    renamed: bool = False


def write_file(path: Path, data: bytes) -> None:
    """Write one file atomically (see the module docstring)."""
    write_files([(path, data)])


# A file's content, or what writes it into the open file (a big text made as it is written).
Content = bytes | Callable[[IO[bytes]], object]


def write_files(files: Sequence[tuple[Path, Content]]) -> None:
    """Write every file or none; raises FileWriteError naming the file that failed."""
    created: list[Path] = []  # folders made here, deepest last
    pending: list[_Pending] = []
    current: Path | None = None
    try:
        for path, data in files:
            # Through a symlink, the file it points to is rewritten, not the link.
            path = Path(os.path.realpath(path))
            current = path
            _make_folders(path.parent, created)
            item = _Pending(path)
            pending.append(item)
            item.temp, item.existed = _write_temp(path, data)
        for item in pending:
            current = item.path
            if item.existed:
                item.backup = _backup(item.path)
            assert item.temp is not None
            os.replace(item.temp, item.path)
            item.temp, item.renamed = None, True
    except OSError as err:
        _undo(pending, created)
        where = current if current is not None else Path(".")
        reason = err.strerror or str(err)
        raise FileWriteError(
            f"cannot write {where}: {reason}; nothing was changed",
            file=str(where),
            hint="Free some space or fix the folder's permissions, then run the command again.",
        ) from err
    except BaseException:
        _undo(pending, created)
        raise
    for item in pending:
        if item.backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(item.backup)
    for folder in dict.fromkeys(item.path.parent for item in pending):
        _fsync_folder(folder)


def _make_folders(folder: Path, created: list[Path]) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _temp_name(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{kind}")


def _write_temp(path: Path, data: Content) -> tuple[Path, bool]:
    """A flushed temporary file next to `path` with `data`, and whether `path` exists."""
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    while True:
        temp = _temp_name(path, "tmp")
        try:
            # 0o666 less the umask, as the kernel applies it: like any editor's new file.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            if info is not None:
                os.fchmod(f.fileno(), info.st_mode & 0o7777)
                with contextlib.suppress(PermissionError):  # only root may give files away
                    os.fchown(f.fileno(), info.st_uid, info.st_gid)
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return temp, info is not None


def _backup(path: Path) -> Path | None:
    while True:
        backup = _temp_name(path, "old")
        try:
            os.link(path, backup)
            return backup
        except FileExistsError:
            continue
        except OSError:
            return None  # no hard links here: the rename cannot be undone, only done


def _undo(pending: list[_Pending], created: list[Path]) -> None:
    for item in reversed(pending):
        with contextlib.suppress(OSError):
            if item.temp is not None:
                os.unlink(item.temp)
            if item.renamed and item.backup is not None:
                os.replace(item.backup, item.path)
            elif item.renamed and not item.existed:
                os.unlink(item.path)
            elif item.backup is not None:
                os.unlink(item.backup)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (best effort: not every system opens folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
