"""Failure artifacts under `<root>/<journey>/<run_id>/`, redacted, with retention.

Names carry the attempt and the trace id, so an artifact found on disk leads to the APM trace.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prober.paths import write_atomically
from prober.redact import Redactor

# What the status page serves, and how: a screenshot is shown; traces and logs download.
SERVED: dict[str, str] = {
    ".png": "image/png",
    ".zip": "application/zip",
    ".json": "application/json",
}


class ArtifactStore:
    def __init__(
        self,
        root: Path,
        *,
        keep_runs: int = 20,
        max_age_s: float = 7 * 86400,
        on_success: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.keep_runs = keep_runs
        self.max_age_s = max_age_s
        self.on_success = on_success
        self._clock = clock

    def directory(self, journey: str, run_id: str) -> Path:
        path = self.root / journey / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def stem(attempt: int, trace_id: str) -> str:
        return f"attempt{attempt}-{trace_id}"

    def relative(self, path: str) -> str | None:
        """An artifact's path under the root, `/`-separated (how the status page links it);
        None for a path outside the root."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError):
            return None

    def served(self, relative: str) -> Path | None:
        """The file an artifact link names, or None: only a regular file inside the root, with
        a suffix of SERVED, is ever handed out. Resolved first, so `..`, absolute paths and
        symlinks that lead out of the root are refused, whatever their spelling."""
        if not relative or "\x00" in relative:
            return None
        root = self.root.resolve()
        try:
            path = (root / relative).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            return None
        if not path.is_relative_to(root) or path.suffix not in SERVED or not path.is_file():
            return None
        return path

    def write_json(self, path: Path, data: Any, redactor: Redactor) -> Path:
        return write_atomically(path, redactor.text(json.dumps(data, indent=2, default=str)))

    def scrub_zip(self, path: Path, redactor: Redactor) -> None:
        """Rewrite a Playwright trace with every entry redacted (headers, bodies, secrets)."""
        tmp = path.with_suffix(".scrubbing")
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, redactor.data(src.read(info)))
        tmp.replace(path)

    def prune_all(self) -> int:
        """`prune` every journey's folder, including journeys no longer configured."""
        if not self.root.is_dir():
            return 0
        return sum(self.prune(p.name) for p in self.root.iterdir() if p.is_dir())

    def prune(self, journey: str) -> int:
        """Delete run folders beyond `keep_runs` (newest kept) or older than `max_age_s`."""
        folder = self.root / journey
        if not folder.is_dir():
            return 0
        runs = sorted(
            (p for p in folder.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        now = self._clock()
        removed = 0
        for index, run in enumerate(runs):
            if index >= self.keep_runs or now - run.stat().st_mtime > self.max_age_s:
                shutil.rmtree(run, ignore_errors=True)
                removed += 1
        return removed
