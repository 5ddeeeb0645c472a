#!/usr/bin/env python3
"""A real Node-RED for the `journeys/nodered` pack: install the pinned release, start, stop.

    scripts/nodered install                  # npm install node-red@4.1.8 into the cache (once)
    NODERED_PASSWORD=... scripts/nodered start [--port N] [--user-dir DIR]
        # -> {"event": "nodered.ready", "url": ..., "pid": ..., "user_dir": ..., ...}
    scripts/nodered stop USER_DIR            # stops it and removes the folder start made

`start` installs first when needed, writes a settings file into the user dir (loopback only,
adminAuth on for the user `admin` with the password in NODERED_PASSWORD, which is hashed by
Node-RED at start and never written down; telemetry, update checks, palette and npm installs
off), starts Node-RED on a free port with that user dir, polls until the admin API answers and
the flows are started, and prints one JSON line. The cache is `.cache/nodered/<version>` in the
repository, or `$NODERED_CACHE/<version>`. Tests import `install`, `start` and `NodeRed`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: E402

VERSION = "4.1.8"  # 5.x needs node >= 22.9; 4.1.x runs on node >= 18.5
MIN_NODE = (18, 5)
PASSWORD_ENV = "NODERED_PASSWORD"
USERNAME = "admin"
START_DEADLINE_S = 30.0
MARKER = ".prober-nodered"  # in user dirs `start` created, so `stop` may remove them
SETTINGS = """// Written by scripts/nodered: loopback only, adminAuth on, nothing phones home.
const bcrypt = require(%(bcrypt)s);
const password = process.env.%(env)s;
if (!password) { throw new Error("%(env)s is not set"); }
module.exports = {
    flowFile: "flows.json",
    credentialSecret: "prober-nodered-credentials",
    uiHost: "127.0.0.1",
    httpAdminRoot: "/",
    httpNodeRoot: "/",
    adminAuth: {
        type: "credentials",
        sessionExpiryTime: 86400,
        users: [{username: %(user)s, password: bcrypt.hashSync(password, 8), permissions: "*"}],
    },
    telemetry: {enabled: false, updateNotification: false},
    diagnostics: {enabled: true, ui: false},
    runtimeState: {enabled: false, ui: false},
    externalModules: {
        autoInstall: false, palette: {allowInstall: false}, modules: {allowInstall: false},
    },
    editorTheme: {
        tours: false,
        projects: {enabled: false},
        palette: {catalogues: []},
        multiplayer: {enabled: false},
    },
    functionExternalModules: false,
    logging: {console: {level: "info", metrics: false, audit: false}},
};
"""


class SetupError(Exception):
    """Node-RED cannot be installed or started; the message says why and what to do."""


def cache_dir() -> Path:
    base = os.environ.get("NODERED_CACHE")
    return (Path(base) if base else ROOT / ".cache" / "nodered") / VERSION


def _node_version() -> tuple[int, ...]:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise SetupError("node and npm must be on PATH (Node-RED 4.1 needs node >= 18.5)")
    said = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return tuple(int(part) for part in said.stdout.strip().lstrip("v").split(".")[:2])


def install() -> Path:
    """The installed Node-RED's folder, installing it first (atomically) when missing."""
    home = cache_dir()
    red = home / "node_modules" / "node-red"
    if (red / "red.js").exists():
        return red
    if _node_version() < MIN_NODE:
        raise SetupError(f"Node-RED {VERSION} needs node >= 18.5; install a newer node")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{VERSION}-", dir=home.parent))
    try:
        (staging / "package.json").write_text('{"private": true}\n', encoding="utf-8")
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
             f"node-red@{VERSION}"],
            cwd=staging, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SetupError(f"npm install node-red@{VERSION} failed: {done.stderr.strip()[-400:]}")
        try:
            staging.rename(home)  # a concurrent install that finished first wins
        except OSError:
            if not (red / "red.js").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return red


@dataclass
class NodeRed:
    """A running Node-RED started by `start`."""

    url: str
    port: int
    pid: int
    user_dir: Path
    log: Path
    startup_s: float
    proc: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _signal(self, signum: int, timeout_s: float) -> bool:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None:
                self.proc.poll()
            if not self.running():
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """SIGKILL: Node-RED dies at once, mid-request (as in a crash)."""
        self._signal(signal.SIGKILL, 10)

    def stop(self, *, remove: bool = False, timeout_s: float = 10) -> None:
        """SIGTERM (SIGKILL after `timeout_s`); `remove` deletes a user dir `start` made."""
        if not self._signal(signal.SIGTERM, timeout_s):
            self.kill()
        if remove and (self.user_dir / MARKER).exists():
            shutil.rmtree(self.user_dir, ignore_errors=True)

    def restart(self, password: str) -> None:
        """Stop if running, then start again on the same port and user dir (flows survive)."""
        self.stop()
        again = start(password, port=self.port, user_dir=self.user_dir)
        self.pid, self.proc, self.startup_s = again.pid, again.proc, again.startup_s

    def to_json(self) -> dict[str, object]:
        return {"event": "nodered.ready", "url": self.url, "pid": self.pid, "port": self.port,
                "user_dir": str(self.user_dir), "log": str(self.log), "version": VERSION,
                "startup_s": round(self.startup_s, 2)}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(password: str, *, port: int = 0, user_dir: Path | None = None) -> NodeRed:
    """Start Node-RED (installing it when needed) and return once its flows are started."""
    if not password:
        raise SetupError(f"{PASSWORD_ENV} is empty: set the admin password to start Node-RED")
    red = install()
    if user_dir is None:
        user_dir = Path(tempfile.mkdtemp(prefix="nodered-"))
        (user_dir / MARKER).touch()
    settings = user_dir / "settings.js"
    bcrypt = red.parent / "bcryptjs"
    text = SETTINGS % {"bcrypt": json.dumps(str(bcrypt)), "env": PASSWORD_ENV,
                       "user": json.dumps(USERNAME)}  # fmt: skip
    partial = settings.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(settings)
    log = user_dir / "node-red.log"
    for _ in range(3):  # a port picked free can be taken before Node-RED binds it
        chosen = port or free_port()
        began = time.monotonic()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["node", str(red / "red.js"), "--settings", str(settings),
                 "--userDir", str(user_dir), "--port", str(chosen)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, PASSWORD_ENV: password},
            )  # fmt: skip
        (user_dir / "pid").write_text(str(proc.pid), encoding="utf-8")
        url = f"http://127.0.0.1:{chosen}"
        node_red = NodeRed(url, chosen, proc.pid, user_dir, log, 0.0, proc)
        if _wait_ready(node_red, log.stat().st_size if log.exists() else 0):
            node_red.startup_s = time.monotonic() - began
            return node_red
        said = log.read_text(encoding="utf-8", errors="replace")
        if port or "EADDRINUSE" not in said:
            node_red.stop()
            tail = " | ".join(said.strip().splitlines()[-5:])
            raise SetupError(f"Node-RED did not start within {START_DEADLINE_S:g}s: {tail}")
    raise SetupError("Node-RED found no free port in 3 tries")


def _wait_ready(node_red: NodeRed, log_from: int) -> bool:
    """Poll until the admin API asks for credentials and the log says the flows started."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline and node_red.running():
        with node_red.log.open("rb") as out:
            out.seek(log_from)
            started = b"Started flows" in out.read()
        if started:
            try:
                with urllib.request.urlopen(f"{node_red.url}/auth/login", timeout=2) as answer:
                    if json.load(answer).get("type") == "credentials":
                        return True
            except (urllib.error.URLError, OSError, ValueError):
                pass
        time.sleep(0.05)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/nodered", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help=f"install node-red@{VERSION} into the cache")
    begin = commands.add_parser("start", help="start it detached; prints one JSON line")
    begin.add_argument("--port", type=int, default=0, help="default: a free port")
    begin.add_argument("--user-dir", type=Path, help="default: a new temporary folder")
    end = commands.add_parser("stop", help="stop the Node-RED `start` ran in USER_DIR")
    end.add_argument("user_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(json.dumps({"event": "nodered.installed", "path": str(install())}))
        elif args.command == "start":
            password = os.environ.get(PASSWORD_ENV, "")
            if args.user_dir is not None:
                args.user_dir.mkdir(parents=True, exist_ok=True)
            node_red = start(password, port=args.port, user_dir=args.user_dir)
            print(json.dumps(node_red.to_json()))
        else:
            pid_file = args.user_dir / "pid"
            if not pid_file.exists():
                raise SetupError(f"{pid_file} does not exist: pass the user_dir `start` printed")
            pid = int(pid_file.read_text(encoding="utf-8"))
            NodeRed("", 0, pid, args.user_dir, args.user_dir / "node-red.log", 0.0).stop(
                remove=True
            )
    except SetupError as exc:
        print(f"scripts/nodered: {exc}", file=sys.stderr)
        return EXIT_USAGE if PASSWORD_ENV in str(exc) or "PATH" in str(exc) else EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
