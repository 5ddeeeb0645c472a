"""Checking, before anything runs, that the files and folders a command will write can be written.

    writable_folder(Path(".prober/artifacts"), "artifacts.path (PROBER_ARTIFACTS__PATH)")
    writable_file(Path("junit.xml"), "--junit")

Each raises `PathError` with one line naming the path, the setting that chose it and the fix,
so a bad path is a usage error (exit 2) before any journey ran, not a traceback after.
Nothing is left behind: no folder or file is created, the probe file is removed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from prober.usage_error import UsageError


def write_atomically(path: Path, data: str | bytes, *, mode: int = 0o666) -> Path:
    """Write `path` whole or not at all: a reader never sees half a file, and a failed write
    leaves no partial file (nor its temporary) behind. The temporary has a name of its own, so
    processes writing the same file at once never mix their bytes (the last rename wins). The
    file is created with `mode` less the umask (0o600: only this user reads it), from its first
    byte on. Raises OSError."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(raw)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class PathError(UsageError):
    """A file or folder the command must write cannot be used; the message says why and how."""


def writable_folder(path: Path, setting: str) -> None:
    """`path` is a folder this process can list and write in, or could be created as one."""
    why = _unusable(path)
    if why is not None:
        raise PathError(
            f"{path}: cannot use this folder ({why}); make it a folder this user can read and "
            f"write, or choose another with {setting}"
        )


def writable_file(path: Path, setting: str) -> None:
    """`path` can be written later, atomically (a temporary file beside it, then a rename): its
    folder is (or can be created as) a writable folder, and it is not itself a folder."""
    if path.is_dir():
        raise PathError(f"{path}: is a folder; give {setting} a file path")
    why = _unusable(path.parent)
    if why is not None:
        raise PathError(
            f"{path}: cannot write it ({path.parent}: {why}); give {setting} a path this user "
            "can write"
        )


def _unusable(folder: Path) -> str | None:
    """Why `folder` cannot be used, or None. Creates nothing: a missing folder is judged by
    its nearest existing ancestor, which the command will create it in."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    named = "it" if existing == folder else str(existing)
    if not existing.is_dir():
        return f"{named} is a file, not a folder"
    try:
        os.listdir(existing)
        fd, probe = tempfile.mkstemp(prefix=".prober-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{named}: {exc.strerror or type(exc).__name__}"
    return None
