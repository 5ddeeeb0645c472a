"""Sessions shared by the prober processes of one host: `serve` and the `prober run`s of an
incident log in once between them, not once each (a platform allowing 5 logins a minute per
client would refuse the sixth).

    files = SessionFiles(Path(".prober/sessions"))
    async with files.lock(key, wait_s=10):      # one process logs in, the others wait
        session = files.read(key) or await log_in()
        files.write(key, session)

Security (docs/deployment.md): a file holds a live session - what the login returned, token
and cookies - and nothing else; never the password or any configured credential. The folder is
created 0700 and each file 0600, written atomically (prober.paths.write_atomically); a file
that others could read, or that is not this user's, is not trusted and is replaced. Its name is
the target and a hash of (username, password): nothing secret. A session is reused until its
expiry (`expires_in`, less a margin; 12 h when none is given) or until the target answers 401,
which removes the file. Deleting the folder logs every process out at no other cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from prober.paths import write_atomically
from prober.session import Session

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
LOCK_POLL_S = 0.05
# A session file is a token and a few cookies; anything larger was not written by the prober.
MAX_FILE_BYTES = 64 * 1024
# The folder beside the result store (store.path) that holds the shared sessions.
SESSIONS_FOLDER = "sessions"
# Beside a session file, the last refused login for the same key (`<name>.refused.json`).
REFUSAL_SUFFIX = ".refused"


class SessionFiles:
    """One file per (target, credentials) key under `folder`. Failures to read or write are
    logged and leave the process on its own session: sharing saves logins, it is not needed."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self._clock = clock

    def path(self, key: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', key)}.json"

    def read(self, key: str) -> Session | None:
        """The shared session for `key` while it is good, else None."""
        text = self._load(self.path(key))
        session = None if text is None else Session.from_json(text)
        if session is None or not session.good(self._clock()):
            return None
        return session

    def read_refusal(self, key: str) -> dict[str, Any] | None:
        """The last refused login another process of the host recorded for `key` (see
        LoginGate.refused), as it wrote it; None when there is none or it is unreadable."""
        text = self._load(self.path(key + REFUSAL_SUFFIX))
        try:
            data = None if text is None else json.loads(text)
        except (ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def write_refusal(self, key: str, refusal: dict[str, Any]) -> None:
        try:
            self._folder()
            path = self.path(key + REFUSAL_SUFFIX)
            write_atomically(path, json.dumps(refusal), mode=0o600)
        except OSError as exc:
            log.warning("cannot share the refusal in %s: %s", self.folder, exc.strerror or exc)

    def clear_refusal(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path(key + REFUSAL_SUFFIX).unlink()

    def _load(self, path: Path) -> str | None:
        """The text of a file this user alone wrote, else None. Whatever is at the path - a
        folder, a FIFO, a device, a symlink, another user's or a readable file, a huge one - is
        never trusted and never blocks or raises: the run does without it."""
        try:
            # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode):
                    log.warning("%s: not a regular file; not used", path)
                    return None
                if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                    log.warning("%s: not this user's alone (mode %o); not used", path,
                                info.st_mode)  # fmt: skip
                    return None
                raw = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            log.warning("%s: cannot read it: %s", path, exc.strerror or exc)
            return None
        if len(raw) > MAX_FILE_BYTES:
            return None  # nothing the prober writes here is this large
        return raw.decode("utf-8", "replace")

    def write(self, key: str, session: Session) -> None:
        try:
            self._folder()
            write_atomically(self.path(key), session.to_json(), mode=0o600)
        except OSError as exc:
            log.warning("cannot share the session in %s: %s", self.folder, exc.strerror or exc)

    def remove(self, key: str, session: Session) -> None:
        """Drop the shared session if it is still `session` (another process may have
        replaced it with a fresh one already)."""
        if self.read(key) == session:
            with contextlib.suppress(OSError):
                self.path(key).unlink()

    @contextlib.asynccontextmanager
    async def lock(self, key: str, wait_s: float) -> AsyncIterator[None]:
        """Hold the host-wide lock for `key` (an flock), waiting up to `wait_s` for another
        process's login; past that, go on without it (a slow login must not stop probing)."""
        fd = self._lock_fd(key)
        held = False
        try:
            if fd is not None:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        held = True
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES):
                            break
                    if time.monotonic() >= deadline:
                        log.warning("%s: still locked after %gs; logging in alone", key, wait_s)
                        break
                    await asyncio.sleep(LOCK_POLL_S)
            yield
        finally:
            if fd is not None:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _lock_fd(self, key: str) -> int | None:
        fd = None
        try:
            self._folder()
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(self.path(key).with_suffix(".lock"), flags, 0o600)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise OSError(errno.EPERM, "the lock file is not this user's regular file")
            return fd
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            log.warning("cannot lock in %s: %s", self.folder, exc.strerror or exc)
            return None

    def _folder(self) -> None:
        """Make the folder (0700) or check the one there: this user's own folder, else OSError
        (a folder another user owns or can write to is not where sessions are shared)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.folder.stat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise OSError(errno.EPERM, "not a folder of this user's")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.chmod(self.folder, 0o700)
