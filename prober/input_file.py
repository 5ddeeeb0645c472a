"""Reading a file the user named (a config, a secret, incidents, rules): bounded, and only a
regular file.

    data = read_input(path, limit=MAX_CONFIG_BYTES)   # InputFileError naming the path and fix

A FIFO, a terminal, /dev/zero or /dev/stdin would block or never end, a folder is not a file,
and a 1 GB file read whole would take the memory of the process: each is one line naming the
path and what to do, before any of it is read into memory. The file is opened without blocking
(a FIFO with no writer does not hang the open), and checked on the open descriptor (no race
between the check and the read).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prober.usage_error import UsageError


class InputFileError(UsageError):
    """A file the user named cannot be read as one; the message names it and says what to do."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"{path}: {why}")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def read_input(path: Path, *, limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; InputFileError otherwise
    (missing, unreadable, not a regular file, or larger than `limit`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputFileError(path, "no such file; check the path") from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InputFileError(path, f"cannot read it ({why}); check the path and its "
                             "permissions") from None  # fmt: skip
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise InputFileError(path, f"is {kind}, not a regular file; give the path of a file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InputFileError(path, f"cannot read it ({why}); check the path") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputFileError(path, f"larger than {_size(limit)}; this is not the file meant: "
                             "check the path")  # fmt: skip
    return b"".join(chunks)
