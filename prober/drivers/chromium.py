"""Finding a Chromium to drive, on machines where `playwright install` cannot download one.

Order: the configured `executable_path`; Playwright's own downloaded browser; then
`chromium`, `chromium-browser`, `google-chrome` on PATH (Debian: `apt-get install chromium`).
A configured path that does not work is an error, never silently replaced by another browser.

`python -m prober.drivers.chromium` prints the path found, or why there is none (exit 1).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PATH_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Chromium without these flags tries to reach Google's hosts at start and on a timer; on a
# closed network every attempt fails noisily and costs time.
BASE_LAUNCH_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

HOW_TO_GET_ONE = (
    "install one: `scripts/install-browser` (Debian as root: `apt-get install -y chromium`; "
    "elsewhere: `playwright install chromium`), or set browser.executable_path in prober.yaml"
)


class ChromiumNotFound(Exception):
    """No usable Chromium; the message says where it looked and how to get one."""


@dataclass(frozen=True, slots=True)
class Chromium:
    path: Path
    source: str  # "configured" | "playwright" | "path"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def playwright_browsers_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where `playwright install` puts browsers (PLAYWRIGHT_BROWSERS_PATH or the user cache)."""
    env = os.environ if environ is None else environ
    configured = env.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured and configured != "0":
        return Path(configured)
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"


def _playwright_candidates(root: Path) -> list[Path]:
    # Newest revision first; the full browser before the headless shell.
    patterns = (
        "chromium-*/chrome-linux*/chrome",
        "chromium_headless_shell-*/chrome-linux*/headless_shell",
        "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
    )
    found: list[Path] = []
    for pattern in patterns:
        found.extend(sorted(root.glob(pattern), key=_revision, reverse=True))
    return found


def _revision(path: Path) -> int:
    for part in path.parts:
        head, _, tail = part.rpartition("-")
        if head.startswith("chromium") and tail.isdigit():
            return int(tail)
    return 0


def find_chromium(
    configured: str | Path | None = None,
    *,
    browsers_dir: Path | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> Chromium:
    """The Chromium to launch, or ChromiumNotFound naming every place looked at."""
    if configured:
        path = Path(configured).expanduser()
        if _executable(path):
            return Chromium(path, "configured")
        raise ChromiumNotFound(
            f"browser.executable_path {path} is not an executable file; fix the path or "
            "remove it to let the prober search"
        )
    root = playwright_browsers_dir() if browsers_dir is None else browsers_dir
    for candidate in _playwright_candidates(root):
        if _executable(candidate):
            return Chromium(candidate, "playwright")
    for name in PATH_NAMES:
        hit = which(name)
        if hit:
            return Chromium(Path(hit), "path")
    raise ChromiumNotFound(
        f"no Chromium found (looked in {root} and for {', '.join(PATH_NAMES)} on PATH); "
        + HOW_TO_GET_ONE
    )


def launch_args(*, is_root: bool | None = None) -> list[str]:
    """Chromium flags: `--no-sandbox` only as root, where Chromium's sandbox cannot start."""
    root = os.geteuid() == 0 if is_root is None else is_root
    return [*BASE_LAUNCH_ARGS, *(["--no-sandbox"] if root else [])]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        found = find_chromium(args[0] if args else None)
    except ChromiumNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(found.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
