"""Careless and hostile input to every command: one row a case, run in-process through
`prober.cli.main`. Each row checks the exit code, that the message names the flag, file or
field (and what to do), that no traceback leaks, and that nothing was written. Then journey
code that breaks at import, a property test of random argument lists, and, in child
processes, a closed stdout and a real Ctrl-C.

The configs point at a closed loopback port and no row reaches a probe: every case must be
refused before anything runs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prober.cli import main
from prober.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MEANINGS,
)
from tests.prober_cli import ROOT

ROW_TIMEOUT_S = 15.0  # a hang detector, far above any row's time on a loaded machine


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = _closed_port()
GOOD_JOURNEY = """
from prober import Journey, StepContext

ok = Journey("ok_journey", cuj="ok", service="svc-a", team="team-a", channel="api")


@ok.step("read")
async def read(ctx: StepContext) -> None:
    (await ctx.api.get("/")).raise_for_status()
"""
CONFIG = f"""\
journeys: [pack]
targets:
  t1:
    base_url: http://127.0.0.1:{CLOSED}
store: results.db
artifacts: artifacts
"""


class RowTimeout(BaseException):
    """Not an Exception: the CLI must not turn a hang into an exit code."""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with a valid config and pack, as the working directory; no PROBER_/DD_
    variables; no bytecode caches (they would count as written files)."""
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "ok.py").write_text(GOOD_JOURNEY)
    (tmp_path / "prober.yaml").write_text(CONFIG)
    for name in list(os.environ):
        if name.startswith(("PROBER_", "DD_", "GITHUB_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield tmp_path


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime)
        for p in root.rglob("*")
        if not p.is_symlink()
    }


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RowTimeout(f"a row took more than {ROW_TIMEOUT_S}s: a hang")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, ROW_TIMEOUT_S)
    try:
        code = main(argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, out, err


@dataclass(frozen=True)
class Case:
    argv: list[str]
    code: int
    says: tuple[str, ...]  # each must appear in stdout or stderr
    setup: Callable[[Path], object] | None = None
    env: dict[str, str] = field(default_factory=dict)


def write(relative: str, text: str) -> Callable[[Path], object]:
    def setup(root: Path) -> object:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.write_text(text)

    return setup


def unreadable(relative: str, text: str = "x") -> Callable[[Path], object]:
    def setup(root: Path) -> object:
        write(relative, text)(root)
        (root / relative).chmod(0)
        return None

    return setup


def read_only_folder(relative: str) -> Callable[[Path], object]:
    def setup(root: Path) -> object:
        (root / relative).mkdir()
        (root / relative).chmod(0o500)
        return None

    return setup


AS_ROOT = os.geteuid() == 0  # root reads and writes through permissions
USAGE = EXIT_USAGE
ARGPARSE = "error: argument"
INCIDENT = "slo backtest --incidents"
CASES: dict[str, Case] = {
    # --- the command line itself ---------------------------------------------------------
    "no command": Case([], USAGE, ("the following arguments are required: COMMAND",)),
    "unknown command": Case(["probe"], USAGE, ("invalid choice: 'probe'",)),
    "unknown global flag": Case(["--verbose", "list"], USAGE, ("unrecognized arguments",)),
    "unknown flag on run": Case(["run", "--fast"], USAGE, ("unrecognized arguments: --fast",)),
    "unknown flag on list": Case(["list", "--yaml"], USAGE, ("unrecognized arguments: --yaml",)),
    "slo without action": Case(["slo"], USAGE, ("required: ACTION",)),
    "unknown slo action": Case(["slo", "report"], USAGE, ("invalid choice: 'report'",)),
    "new without kind": Case(["new"], USAGE, ("required: KIND",)),
    "new unknown kind": Case(["new", "journey", "x"], USAGE, ("invalid choice: 'journey'",)),
    "new pack no name": Case(["new", "pack"], USAGE, ("required: name",)),
    # --- run / smoke / serve ---------------------------------------------------------------
    "run -c no value": Case(["run", "-c"], USAGE, ("argument -c/--config: expected one",)),
    "run --repeat zero": Case(["run", "--repeat", "0"], USAGE, ("--repeat", "from 1 to")),
    "run --repeat text": Case(["run", "--repeat", "ten"], USAGE, ("--repeat", "'ten' is not")),
    "run --repeat negative": Case(["run", "--repeat", "-3"], USAGE, ("--repeat",)),
    "run --every text": Case(["run", "--every", "soon"], USAGE, ("--every", "'soon'")),
    "run --every missing": Case(["run", "--every"], USAGE, ("--every", "expected one")),
    "run --retries 99": Case(["run", "--retries", "99"], USAGE, ("--retries", "not in 0..")),
    "run --retries -1": Case(["run", "--retries", "-1"], USAGE, ("--retries",)),
    "run unknown journey": Case(["run", "nope"], USAGE, ("'nope'", "ok_journey")),
    "run glob matches nothing": Case(["run", "zz_*"], USAGE, ("'zz_*'", "ok_journey")),
    "run bad glob": Case(["run", "[ok"], USAGE, ("'[ok'", "ok_journey")),
    "run unknown target": Case(["run", "--target", "t9"], USAGE, ("'t9'", "t1")),
    "run missing config": Case(
        ["run", "-c", "nope.yaml"], USAGE, ("nope.yaml", "no such file", "-c PATH")
    ),
    "run config is a folder": Case(["run", "-c", "pack"], USAGE, ("pack", "not a regular file")),
    "run config not YAML": Case(
        ["run", "-c", "bad.yaml"],
        USAGE,
        ("bad.yaml",),
        setup=write("bad.yaml", "journeys: [pack\n"),
    ),
    "run config a list": Case(
        ["run", "-c", "list.yaml"], USAGE, ("list.yaml",), setup=write("list.yaml", "- a\n- b\n")
    ),
    "run config empty": Case(
        ["run", "-c", "empty.yaml"], USAGE, ("empty.yaml",), setup=write("empty.yaml", "")
    ),
    "run config unknown field": Case(
        ["run", "-c", "f.yaml"],
        USAGE,
        ("f.yaml", "targts"),
        setup=write("f.yaml", CONFIG + "targts: {}\n"),
    ),
    "run $PROBER_CONFIG missing": Case(
        ["run"], USAGE, ("gone.yaml",), env={"PROBER_CONFIG": "gone.yaml"}
    ),
    "run pack path missing": Case(
        ["run", "-c", "p.yaml"],
        USAGE,
        ("nopack", "not found"),
        setup=write("p.yaml", CONFIG.replace("[pack]", "[nopack]")),
    ),
    "smoke --junit folder": Case(
        ["smoke", "--junit", "pack"], USAGE, ("pack", "is a folder", "--junit")
    ),
    "smoke --junit no value": Case(["smoke", "--junit"], USAGE, ("--junit", "expected one")),
    "smoke --junit in a file": Case(
        ["smoke", "--junit", "prober.yaml/j.xml"], USAGE, ("prober.yaml", "--junit")
    ),
    "smoke unknown journey": Case(["smoke", "missing_one"], USAGE, ("'missing_one'",)),
    "smoke unknown target": Case(["smoke", "--target", "nowhere"], USAGE, ("'nowhere'",)),
    "serve --shard text": Case(["serve", "--shard", "half"], USAGE, ("--shard",)),
    "serve --shard out of range": Case(["serve", "--shard", "5/3"], USAGE, ("--shard", "0..N-1")),
    "serve --shard zero of zero": Case(["serve", "--shard", "0/0"], USAGE, ("--shard",)),
    "serve unknown journey": Case(["serve", "nope"], USAGE, ("'nope'",)),
    "serve unknown target": Case(["serve", "--target", "t9"], USAGE, ("'t9'",)),
    # --- list / validate / demo ------------------------------------------------------------
    "list missing config": Case(["list", "-c", "x/y.yaml"], USAGE, ("x/y.yaml",)),
    "list positional": Case(["list", "ok_journey"], USAGE, ("unrecognized arguments",)),
    "NUL in a path": Case(["validate", "-c", "a\x00.yaml"], USAGE, ("NUL byte",)),
    "list --target": Case(["list", "--target", "t1"], USAGE, ("unrecognized arguments",)),
    "validate config folder": Case(
        ["validate", "-c", "."], USAGE, ("not a regular file", "-c PATH")
    ),
    "validate bad serve type": Case(
        ["validate", "-c", "s.yaml"],
        USAGE,
        ("s.yaml", "serve"),
        setup=write("s.yaml", CONFIG + "serve: 7\n"),
    ),
    "validate no targets": Case(
        ["validate", "-c", "t.yaml"],
        USAGE,
        ("t.yaml", "targets"),
        setup=write("t.yaml", "journeys: [pack]\n"),
    ),
    "demo missing config": Case(["demo", "-c", "nope.yaml"], USAGE, ("nope.yaml",)),
    "demo unknown flag": Case(["demo", "--slow"], USAGE, ("unrecognized arguments: --slow",)),
    # --- new ---------------------------------------------------------------------------------
    "new pack bad name": Case(["new", "pack", "My-Pack"], USAGE, ("'My-Pack'", "lower case")),
    "new pack dir is a file": Case(
        ["new", "pack", "fine", "--dir", "prober.yaml"], USAGE, ("prober.yaml", "--dir")
    ),
    "new pack exists": Case(["new", "pack", "pack", "--dir", "."], USAGE, ("pack",)),
    "new pack --dir missing value": Case(["new", "pack", "x", "--dir"], USAGE, ("--dir",)),
    # --- sandbox / dogstatsd-listen ---------------------------------------------------------
    "sandbox port text": Case(["sandbox", "--port", "http"], USAGE, ("--port", "'http'")),
    "sandbox port too big": Case(["sandbox", "--port", "70000"], USAGE, ("--port", "0-65535")),
    "sandbox seed text": Case(["sandbox", "--seed", "x"], USAGE, ("--seed",)),
    "sandbox timeout text": Case(
        ["sandbox", "--upstream-timeout", "x"], USAGE, ("--upstream-timeout",)
    ),
    "listen port negative": Case(["dogstatsd-listen", "--port", "-1"], USAGE, ("--port",)),
    "listen socket is a file": Case(
        ["dogstatsd-listen", "--socket", "prober.yaml"],
        USAGE,
        ("prober.yaml", "not a socket", "--socket"),
    ),
    "listen socket no folder": Case(
        ["dogstatsd-listen", "--socket", "no/dir/s.sock"], USAGE, ("no/dir/s.sock", "--socket")
    ),
    # --- slo export / lint / audit ----------------------------------------------------------
    "export no format": Case(["slo", "export"], USAGE, ("--format",)),
    "export bad format": Case(["slo", "export", "--format", "yaml"], USAGE, ("'yaml'",)),
    "export --out is a file": Case(
        ["slo", "export", "--format", "terraform", "--out", "prober.yaml"],
        USAGE,
        ("prober.yaml", "--out"),
    ),
    "export terraform to stdout": Case(
        ["slo", "export", "--format", "terraform"], USAGE, ("--out DIR",)
    ),
    "export rules missing": Case(
        ["slo", "export", "--format", "openslo", "--rules", "r.yaml"],
        USAGE,
        ("r.yaml", "cannot read"),
    ),
    "export rules folder": Case(
        ["slo", "export", "--format", "openslo", "--rules", "pack"], USAGE, ("pack",)
    ),
    "lint missing dir": Case(["slo", "lint", "tf"], USAGE, ("tf", "not a folder")),
    "lint a file": Case(["slo", "lint", "prober.yaml"], USAGE, ("prober.yaml",)),
    "lint no dir": Case(["slo", "lint"], USAGE, ("DIR",)),
    "lint bad terraform": Case(
        ["slo", "lint", "tf"], USAGE, ("tf",), setup=write("tf/main.tf", 'resource "x" {{{\n')
    ),
    "audit missing dir": Case(["slo", "audit", "tf"], USAGE, ("tf",)),
    "audit no tf files": Case(["slo", "audit", "pack"], USAGE, ("pack", "no .tf files")),
    # --- slo status / gate ------------------------------------------------------------------
    "status bad window": Case(["slo", "status", "--window", "month"], USAGE, ("--window",)),
    "status zero window": Case(
        ["slo", "status", "--window", "0s"], USAGE, ("--window", "from 1m to")
    ),
    "status --min-runs 0": Case(["slo", "status", "--min-runs", "0"], USAGE, ("--min-runs",)),
    "gate bad source": Case(["slo", "gate", "--source", "prometheus"], USAGE, ("'prometheus'",)),
    "gate bad timeout": Case(["slo", "gate", "--timeout", "never"], USAGE, ("--timeout",)),
    "gate --min-runs text": Case(["slo", "gate", "--min-runs", "many"], USAGE, ("--min-runs",)),
    "gate unknown journey": Case(["slo", "gate", "nope"], USAGE, ("'nope'",)),
    "gate unknown service": Case(
        ["slo", "gate", "--service", "nobody"], USAGE, ("no enabled journey of service nobody",)
    ),
    "gate too few runs": Case(["slo", "gate"], USAGE, ("CANNOT DECIDE",)),
    # --- slo backtest -----------------------------------------------------------------------
    "backtest bad --last": Case(["slo", "backtest", "--last", "week"], USAGE, ("--last",)),
    "backtest bad --from": Case(
        ["slo", "backtest", "--from", "yesterday"], USAGE, ("--from", "ISO 8601")
    ),
    "backtest empty period": Case(
        ["slo", "backtest", "--from", "2026-01-02", "--to", "2026-01-01"],
        USAGE,
        ("the period is empty",),
    ),
    "backtest --time-scale text": Case(
        ["slo", "backtest", "--time-scale", "x"], USAGE, ("--time-scale",)
    ),
    "backtest --time-scale < 1": Case(
        ["slo", "backtest", "--time-scale", "0.5"], USAGE, ("--time-scale", "from 1 to")
    ),
    "backtest negative grace": Case(["slo", "backtest", "--grace", "-5m"], USAGE, ("--grace",)),
    "incidents missing": Case(
        ["slo", "backtest", "--incidents", "i.csv"], USAGE, ("i.csv", "cannot read")
    ),
    "incidents a folder": Case(["slo", "backtest", "--incidents", "pack"], USAGE, ("pack",)),
    "incidents wrong suffix": Case(
        ["slo", "backtest", "--incidents", "i.txt"],
        USAGE,
        ("i.txt", ".csv, .yaml"),
        setup=write("i.txt", "x"),
    ),
    "incidents empty yaml": Case(
        ["slo", "backtest", "--incidents", "i.yaml"],
        USAGE,
        ("i.yaml", "no incidents"),
        setup=write("i.yaml", ""),
    ),
    "incidents header only": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv", "no incidents"),
        setup=write("i.csv", "start,end,journey,service,label\n"),
    ),
    "incidents yaml mapping": Case(
        ["slo", "backtest", "--incidents", "i.yaml"],
        USAGE,
        ("i.yaml", "a list of incidents"),
        setup=write("i.yaml", "incidents: 5\n"),
    ),
    "incidents yaml scalar row": Case(
        ["slo", "backtest", "--incidents", "i.yaml"],
        USAGE,
        ("i.yaml: incident 1", "mapping"),
        setup=write("i.yaml", "- 42\n"),
    ),
    "incidents malformed yaml": Case(
        ["slo", "backtest", "--incidents", "i.yaml"],
        USAGE,
        ("i.yaml", "not valid YAML"),
        setup=write("i.yaml", "- {start: [\n"),
    ),
    "incidents unknown column": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv", "unknown column", "when"),
        setup=write("i.csv", "when,journey\n1,ok_journey\n"),
    ),
    "incidents bad time": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv: incident 1: start",),
        setup=write("i.csv", "start,end,journey\nnoon,1,ok_journey\n"),
    ),
    "incidents end before start": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv: incident 1", "end is before start"),
        setup=write("i.csv", "start,end,journey\n9,1,ok_journey\n"),
    ),
    "incidents names nothing": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv: incident 1", "name the journey or the service"),
        setup=write("i.csv", "start,end,label\n1,9,x\n"),
    ),
    "incidents unknown journey": Case(
        ["slo", "backtest", "--incidents", "i.csv"],
        USAGE,
        ("i.csv: incident 1", "'ok_jorney'", "ok_journey"),
        setup=write("i.csv", "start,end,journey\n1,9,ok_jorney\n"),
    ),
    "incidents unknown service": Case(
        ["slo", "backtest", "--incidents", "i.yaml"],
        USAGE,
        ("i.yaml: incident 1", "'billing'", "svc-a", "cuj-prober"),
        setup=write("i.yaml", "- {start: 1, end: 9, service: billing}\n"),
    ),
    "backtest rules not yaml": Case(
        ["slo", "backtest", "--rules", "r.yaml"],
        USAGE,
        ("r.yaml",),
        setup=write("r.yaml", "name: [\n"),
    ),
    # --- journey code -----------------------------------------------------------------------
    "journey syntax error": Case(
        ["validate"],
        USAGE,
        ("pack/broken.py", "line 1", "syntax"),
        setup=write("pack/broken.py", "def (:\n"),
    ),
    "journey raises at import": Case(
        ["validate"],
        USAGE,
        ("pack/boom.py", "RuntimeError", "boom at import"),
        setup=write("pack/boom.py", "raise RuntimeError('boom at import')\n"),
    ),
    "journey imports nothing": Case(
        ["list"],
        USAGE,
        ("pack/imp.py", "no_such_module"),
        setup=write("pack/imp.py", "import no_such_module\n"),
    ),
    "journey sys.exit at import": Case(
        ["run"],
        USAGE,
        ("pack/ex.py", "SystemExit"),
        setup=write("pack/ex.py", "import sys\nsys.exit(3)\n"),
    ),
    "journey bad channel": Case(
        ["validate"],
        USAGE,
        ("pack/ch.py", "channel", "'email'"),
        setup=write(
            "pack/ch.py",
            "from prober import Journey\n"
            "j = Journey('j2', cuj='c', service='s', team='t', "
            "channel='email')\n",
        ),
    ),
    "journey without steps": Case(
        ["validate"],
        USAGE,
        ("pack/nosteps.py", "j3"),
        setup=write(
            "pack/nosteps.py",
            "from prober import Journey\n"
            "j = Journey('j3', cuj='c', service='s', team='t',"
            " channel='api')\n",
        ),
    ),
    "journey duplicate name": Case(
        ["validate"],
        USAGE,
        ("pack/dup.py", "'ok_journey'", "unique"),
        setup=write("pack/dup.py", GOOD_JOURNEY),
    ),
    "journey bad interval": Case(
        ["validate"],
        USAGE,
        ("pack/iv.py", "interval"),
        setup=write(
            "pack/iv.py",
            "from prober import Journey\n"
            "j = Journey('j4', cuj='c', service='s', team='t', "
            "channel='api', interval='often')\n",
        ),
    ),
    "journey KeyboardInterrupt": Case(
        ["validate"],
        EXIT_INTERRUPTED,
        ("pack/kb.py", "raises KeyboardInterrupt when imported"),
        setup=write("pack/kb.py", "raise KeyboardInterrupt\n"),
    ),
    # --- unreadable and unwritable (permissions do not bind root) ---------------------------
    **(
        {}
        if AS_ROOT
        else {
            "config unreadable": Case(
                ["validate", "-c", "u.yaml"], USAGE, ("u.yaml",), setup=unreadable("u.yaml", CONFIG)
            ),
            "incidents unreadable": Case(
                ["slo", "backtest", "--incidents", "u.csv"],
                USAGE,
                ("u.csv", "cannot read"),
                setup=unreadable("u.csv"),
            ),
            "export --out read-only": Case(
                ["slo", "export", "--format", "terraform", "--out", "ro/slo"],
                USAGE,
                ("ro", "--out"),
                setup=read_only_folder("ro"),
            ),
            "junit in read-only": Case(
                ["smoke", "--junit", "ro/j.xml"],
                USAGE,
                ("ro/j.xml", "--junit"),
                setup=read_only_folder("ro"),
            ),
        }
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input(
    case: Case, workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.setup is not None:
        case.setup(workspace)
    refused_as(case.argv, case.code, case.says, workspace, capsys)


def refused_as(
    argv: list[str],
    code: int,
    says: tuple[str, ...],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """Run `argv` in `workspace`: it exits `code`, its output holds each of `says`, carries no
    traceback and nothing in the workspace changed. Returns the output."""
    before = snapshot(workspace)
    got, out, err = run_cli(argv, capsys)
    both = out + err
    assert got == code, both
    for needle in says:
        assert needle in both, f"{needle!r} not in:\n{both}"
    assert "Traceback" not in both
    assert snapshot(workspace) == before, "the command wrote something"
    return both


def test_the_battery_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 70
    first_words = {c.argv[1] if c.argv[:1] == ["slo"] and len(c.argv) > 1 else
                   (c.argv or [""])[0] for c in CASES.values()}  # fmt: skip
    every = {"run", "smoke", "serve", "list", "validate", "demo", "new", "sandbox",
             "dogstatsd-listen", "export", "lint", "audit", "status", "gate",
             "backtest"}  # fmt: skip
    assert every <= first_words


# --- the exit-code table --------------------------------------------------------------------

_ROW = re.compile(r"^\| (\d+) \| (.+?) \| (.+?) \|$", re.MULTILINE)


@pytest.mark.parametrize("page", ["README.md", "docs/troubleshooting.md"])
def test_the_documented_table_is_exit_codes_py(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    rows = {int(code): (meaning, action) for code, meaning, action in _ROW.findall(text)}
    assert rows == MEANINGS


# --- internal errors, --debug, a closed stdout ----------------------------------------------


def test_an_internal_error_is_one_line_and_the_traceback_needs_debug(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise TypeError("a bug deep inside")

    monkeypatch.setattr("prober.commands.inspect.list_journeys", broken)
    code, out, err = run_cli(["list"], capsys)
    assert out == ""
    assert code == EXIT_INTERNAL
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: TypeError: a bug deep inside" in err
    assert "report it at https://" in err and "--debug" in err
    for argv, env in ((["--debug", "list"], None), (["list", "--debug"], None),
                      (["list"], "1")):  # fmt: skip
        if env:
            monkeypatch.setenv("PROBER_DEBUG", env)
        code, _, err = run_cli(argv, capsys)
        assert code == EXIT_INTERNAL and "Traceback (most recent call last)" in err
        assert "a bug deep inside" in err.splitlines()[-1]


def _child(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    # A shell without job control starts background jobs (CI's, often) with SIGINT ignored,
    # and children inherit that: the child gets Ctrl-C as a terminal gives it (a handler, unlike
    # "ignored", is reset to the default across exec).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "prober", *args], env=env, cwd=cwd, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_closed_stdout_ends_quietly(workspace: Path) -> None:
    # Enough journeys that `list --json` outgrows the pipe's buffer after the reader left.
    for i in range(400):
        (workspace / "pack" / f"j{i}.py").write_text(
            GOOD_JOURNEY.replace("ok_journey", f"journey_{i}").replace('"ok"', f'"c{i}"')
        )
    child = _child("list", "--json", cwd=workspace)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().startswith('{"journey": ')
    child.stdout.close()  # `| head -1`
    err = child.stderr.read()
    assert child.wait(timeout=30) == EXIT_BROKEN_PIPE, err
    assert err == ""


def test_dogstatsd_listen_into_a_closed_pipe_ends_quietly(workspace: Path) -> None:
    child = _child("dogstatsd-listen", "--port", "0", cwd=workspace)
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()  # listening on udp://127.0.0.1:PORT; ...
    port = int(first.split("udp://127.0.0.1:")[1].split(";")[0])
    child.stdout.close()  # `| head -1`
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            sender.sendto(b"cuj.journey.runs:1|c|#journey:x", ("127.0.0.1", port))
            time.sleep(0.05)
    err = child.stderr.read()
    assert child.wait(timeout=10) == EXIT_BROKEN_PIPE, err
    assert err == ""


class _Slow(BaseHTTPRequestHandler):
    """Answers nothing until the test lets go: the journey's request hangs, and `arrived`
    says the run is in flight."""

    arrived = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).arrived.set()
        type(self).release.wait(60)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_ctrl_c_during_run_says_what_it_cleaned_up(workspace: Path) -> None:
    _Slow.arrived.clear()
    _Slow.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        (workspace / "prober.yaml").write_text(CONFIG.replace(str(CLOSED), str(port)))
        child = _child("run", "--json", cwd=workspace)
        # The run is in flight once its request reached the server (the store is written only
        # when a run ends, so it cannot tell).
        assert _Slow.arrived.wait(60), "the run never reached the target"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        _Slow.release.set()
        server.shutdown()
    assert child.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert lines == ["prober run: interrupted (Ctrl-C); runs in flight were cancelled after "
                     "their cleanups ran; finished runs are saved"]  # fmt: skip


# --- random argument lists ------------------------------------------------------------------

COMMANDS = [["run"], ["smoke"], ["list"], ["validate"], ["new", "pack"], ["slo", "export"],
            ["slo", "lint"], ["slo", "audit"], ["slo", "status"], ["slo", "gate"],
            ["slo", "backtest"], ["sandbox"], ["dogstatsd-listen"], ["serve"]]  # fmt: skip
FLAGS = ["-c", "--config", "--target", "--env", "--repeat", "--every", "--retries", "--json",
         "--junit", "--shard", "--format", "--out", "--rules", "--window", "--min-runs",
         "--source", "--timeout", "--incidents", "--from", "--to", "--last", "--grace",
         "--time-scale", "--service", "--override", "--port", "--seed", "--dir", "--location",
         "--help", "--bogus", "--", "-"]  # fmt: skip
VALUES = ["", "0", "-1", "1", "99999", "1.5", "nan", "30s", "-5m", "7d", "0/0", "3/2", "x",
          "prober.yaml", "pack", "missing.yaml", "no/such/dir", "*", "[", "ok_journey",
          "terraform", "store", "2026-01-01", "é", "a b", "\x00"]  # fmt: skip
# Commands that would serve or listen given good arguments: only refused argument lists run.
LONG_RUNNING = {"serve", "sandbox", "dogstatsd-listen"}
DOCUMENTED = set(MEANINGS)


@settings(max_examples=250, deadline=10_000, database=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(
    command=st.sampled_from(COMMANDS),
    rest=st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES)), max_size=6),
)
def test_random_arguments_never_leak_a_traceback(
    command: list[str], rest: list[str], workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    argv = [*command, *rest]
    if command[0] in LONG_RUNNING or command[:2] == ["slo", "gate"]:
        # Do not start a server, a listener or a Datadog call: only argument errors here.
        argv = [*argv, "--bogus-flag-to-stop-here"]
    if command[0] in ("run", "smoke"):
        argv = [*argv, "--target", "no_such_target"]  # refused before anything probes
    code, out, err = run_cli(argv, capsys)
    assert code in DOCUMENTED and code != EXIT_INTERNAL, (argv, err)
    assert "Traceback" not in out + err
    if code == EXIT_OK:
        return
    assert err.strip() or out.strip(), argv  # a refusal always says why


# --- every exception of the prober is decided on --------------------------------------------

# Exceptions that never reach the CLI as themselves, and why; everything else of the prober's
# must be a UsageError (exit 2 with its message), or the CLI would call it an internal error.
NOT_USAGE = {
    "prober.errors.JourneyAssertion": "a journey outcome: the classifier makes it a Failure",
    "prober.errors.ReportedFailure": "a journey outcome",
    "prober.errors.FailedAnswer": "a journey outcome",
    "prober.errors.LoginFailed": "a journey outcome",
    "prober.errors.RequestFailed": "a journey outcome",
    "prober.errors.UnexpectedStatus": "a journey outcome",
    "prober.errors.ProbeError": "a run's probe_error (exit 3)",
    "prober.errors.BrowserUnavailable": "a run's probe_error (exit 3)",
    "prober.errors.JourneyDefinitionError": "the loader reports it as a config problem",
    "prober.errors._LastSeen": "the base of the wait outcomes below",
    "prober.errors.GaveUp": "a journey outcome (a wait that ran out)",
    "prober.errors.Unreadable": "a journey outcome (a body the browser no longer holds)",
    "prober.drivers.http.CredentialsWithheld": "a journey outcome (a redirect off the target)",
    "prober.errors.WaitTimedOut": "a journey outcome (a wait that reached the deadline)",
    "prober.errors.JourneyExit": "a journey outcome: SystemExit/KeyboardInterrupt from its code",
    "prober.yaml_source.YamlError": "the config loader reports its problems as a ConfigError",
    "prober.yaml_source._Refused": "internal to the YAML reader: becomes a YamlError",
    "prober.errors.JourneyImportInterrupted": "an interrupt (130) naming the module",
    "prober.loader.ImportTimedOut": "the loader reports the module as a config problem",
    "prober.maintenance.WindowError": "config validation reports it as a problem",
    "prober.sinks.dogstatsd.DogStatsdConfigError": "the catalog reports it as a config problem",
    "prober.dogstatsd_wire.WireError": "dogstatsd-listen prints the undecodable datagram",
    "prober.slo.gate.BudgetUnavailable": "the gate's 'cannot decide' (exit 2) with the reason",
    "prober.drivers.chromium.ChromiumNotFound": "becomes BrowserUnavailable",
    "prober.sandbox.errors.ApiError": "the sandbox answers it over HTTP",
    "prober.sandbox.client.UpstreamFailure": "the sandbox answers it over HTTP",
    "prober.sandbox.store.StoreError": "the sandbox server reports it as a ServeError",
    "prober.sandbox.store.VersionConflict": "the sandbox answers it over HTTP (409)",
}


def test_every_exception_of_the_prober_is_a_usage_error_or_decided_otherwise() -> None:
    import importlib
    import inspect
    import pkgutil

    import prober
    from prober.usage_error import UsageError

    undecided, seen = [], set()
    for info in pkgutil.walk_packages(prober.__path__, "prober."):
        if info.name == "prober.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue
            if value.__module__ != info.name:
                continue  # imported, decided where it is defined
            where = f"{info.name}.{name}"
            seen.add(where)
            if not issubclass(value, UsageError) and where not in NOT_USAGE:
                undecided.append(where)
    assert undecided == []
    assert set(NOT_USAGE) <= seen  # the list names real classes (a rename shows here)
