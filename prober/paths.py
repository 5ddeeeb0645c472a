"""Checking, before anything runs, that the files and folders a command will write can be written.

    writable_folder(Path(".prober/artifacts"), "artifacts.path (PROBER_ARTIFACTS__PATH)")
    writable_file(Path("junit.xml"), "--junit")

Each raises `PathError` with one line naming the path, the setting that chose it and the fix,
so a bad path is a usage error (exit 2) before any journey ran, not a traceback after.
Nothing is left behind: the probe file is removed, a missing file is not created.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class PathError(Exception):
    """A file or folder the command must write cannot be used; the message says why and how."""


def writable_folder(path: Path, setting: str) -> None:
    """`path` exists (created if missing) and this process can list it and write in it."""
    why = _unusable(path)
    if why is not None:
        raise PathError(
            f"{path}: cannot use this folder ({why}); make it a folder this user can read and "
            f"write, or choose another with {setting}"
        )


def writable_file(path: Path, setting: str) -> None:
    """`path` can be written later, atomically (a temporary file beside it, then a rename): its
    folder exists and is writable, and it is not itself a folder."""
    if path.is_dir():
        raise PathError(f"{path}: is a folder; give {setting} a file path")
    why = _unusable(path.parent)
    if why is not None:
        raise PathError(
            f"{path}: cannot write it ({path.parent}: {why}); give {setting} a path this user "
            "can write"
        )


def _unusable(folder: Path) -> str | None:
    """Why `folder` cannot be used, or None; creates it when missing."""
    if folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.listdir(folder)
        fd, probe = tempfile.mkstemp(prefix=".prober-write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
