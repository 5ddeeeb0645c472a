"""Every `prober` command the README and docs/*.md show in a shell block is exercised by a test.

The commands are read from the ```bash/sh blocks themselves. Each must have an entry in
`EXERCISED`, naming the test that runs it (here or elsewhere); a documented command without one,
an entry no page shows any more, or an entry naming a test that does not exist fails. Every
documented command must also parse with the real command line (so no page shows an option the
prober does not have), and every `make` target shown must exist. The cheap commands (`CHEAP`)
run here for real, as a reader would type them, in a scratch folder laid out like a checkout,
against the repository's prober.yaml. Links and references outside the repository are
tests/test_docs.py's job.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prober import metrics as m
from prober.cli import _parser, main
from prober.sinks.dogstatsd import Destination, DogStatsdSink
from tests.background_agent import BackgroundAgent
from tests.prober_cli import CONFIG, ROOT, prober, prober_env
from tests.results import attempt, result
from tests.sandbox_process import SandboxProcess, wait_for

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"bash", "sh", "shell"}
HERE = "tests/test_docs_commands.py"
CHEAP_TEST = f"{HERE}::test_the_cheap_commands_run_for_real"

# A documented command (as its words, quotes removed) -> the test that runs it. Where no test
# runs it literally (a 100 s --repeat, a path of the reader's), the test runs the same command
# with the same options on values that fit a test.
EXERCISED: dict[str, str] = {
    "prober validate": CHEAP_TEST,
    "prober list": CHEAP_TEST,
    "prober new pack my_platform": CHEAP_TEST,
    "prober validate -c journeys/my_platform/prober.yaml": CHEAP_TEST,
    "prober validate -c examples/nodered.yaml": CHEAP_TEST,
    "prober slo export --format terraform --env prod --out slo/ --notify-page @pagerduty-cuj "
    "--notify-ticket @jira-sre": CHEAP_TEST,
    "prober slo export --format terraform --env prod --out slo/": CHEAP_TEST,
    "prober slo export --format datadog-json --env prod --out slo-json/": CHEAP_TEST,
    "prober slo export --format openslo --env prod --out slo-openslo/": CHEAP_TEST,
    "prober slo lint slo/": CHEAP_TEST,
    "prober slo audit slo/ --env prod": CHEAP_TEST,
    "prober slo status --window 30d": CHEAP_TEST,
    "prober slo status --window 7d": CHEAP_TEST,
    "prober slo gate --service orchestration-engine": CHEAP_TEST,
    "prober slo gate --service orchestration-engine --override 'hotfix INC-42'": CHEAP_TEST,
    "prober run workflow_canvas_load --repeat 10 --every 10s --json": f"{HERE}::"
    "test_run_repeats_rounds_every_interval_as_json",
    "prober dogstatsd-listen --socket /tmp/dsd.socket": f"{HERE}::"
    "test_dogstatsd_listen_on_a_unix_socket_prints_what_an_agent_would_get",
    "prober dogstatsd-listen --port 8125": "tests/test_result_sinks.py::"
    "test_dogstatsd_listen_prints_what_an_agent_would_get",
    "prober run 'workflow_run_*'": "tests/test_probe_commands.py::"
    "test_run_json_prints_one_object_per_run_with_the_design_keys",
    "prober run workflow_run_api --retries 1": "tests/test_probe_commands.py::"
    "test_run_does_not_retry_unless_asked_and_shows_each_attempt",
    "prober smoke --env staging --junit junit.xml": "tests/test_probe_commands.py::"
    "test_smoke_passes_with_junit",
    "prober smoke -c prober.yaml --env staging --junit cuj-prober-junit.xml": "tests/"
    "test_ci_integrations.py::test_the_gitlab_script_runs_a_smoke_with_the_junit_report",
    "prober smoke -c examples/nodered.yaml": "tests/test_nodered.py::"
    "test_the_pack_passes_together_under_prober_smoke",
    "prober run -c journeys/my_platform/prober.yaml": "tests/test_kit.py::"
    "test_a_new_pack_validates_and_runs_green_against_the_sandbox",
    "prober serve": "tests/test_serve.py::test_serve_runs_on_schedule_skips_overlaps_and_beats",
    "prober serve --shard 0/3": "tests/test_serve.py::"
    "test_an_empty_shard_still_serves_and_a_taken_port_is_a_clear_error",
    "prober slo backtest --last 14d --incidents incidents.csv": "tests/test_slo_backtest.py::"
    "test_the_command_line",
    "prober slo backtest --from START --to END --time-scale 20 --incidents "
    ".prober/fidelity/incidents.csv": "tests/test_slo_backtest.py::test_the_command_line",
    "prober slo audit terraform/ --env prod --location eu-west-1 -c prober.yaml": "tests/"
    "test_slo_audit.py::test_the_fixture_reports_exactly_its_missing_orphaned_and_drifted_resources",
    "prober sandbox --port 8000 --faults --db .prober/sandbox.db --request-log off --seed 7": (
        "tests/test_sandbox_cli.py::test_data_survives_a_restart_and_interrupted_runs_are_failed"
    ),
}


@dataclass(frozen=True)
class Cheap:
    exit_code: int
    says: str  # in stdout, whatever the case
    phase: int = 1  # phase 0 writes what phase 1 reads (the export before lint and audit)


CHEAP: dict[str, Cheap] = {
    "prober validate": Cheap(0, "prober.yaml: ok - 5 journeys"),
    "prober list": Cheap(0, "workflow_run_browser"),
    "prober new pack my_platform": Cheap(0, "wrote journeys/my_platform/", phase=0),
    "prober validate -c journeys/my_platform/prober.yaml": Cheap(0, ": ok - 2 journeys"),
    "prober validate -c examples/nodered.yaml": Cheap(0, "examples/nodered.yaml: ok - 4 journeys"),
    "prober slo export --format terraform --env prod --out slo/ --notify-page @pagerduty-cuj "
    "--notify-ticket @jira-sre": Cheap(0, "10 SLOs, 47 monitors for 5 journeys in env prod", 0),
    "prober slo export --format terraform --env prod --out slo/": Cheap(0, "wrote", phase=2),
    "prober slo export --format datadog-json --env prod --out slo-json/": Cheap(0, "wrote 1 file"),
    "prober slo export --format openslo --env prod --out slo-openslo/": Cheap(0, "wrote 1 file"),
    "prober slo lint slo/": Cheap(0, "0 violations in slo"),
    "prober slo audit slo/ --env prod": Cheap(0, "0 missing, 0 orphaned, 0 drifted"),
    "prober slo status --window 30d": Cheap(0, "no scheduled runs in the last 30d"),
    "prober slo status --window 7d": Cheap(0, "no scheduled runs in the last 7d"),
    # An empty store is no data: never a silent go, unless overridden with a reason.
    "prober slo gate --service orchestration-engine": Cheap(2, "slo gate cannot decide"),
    "prober slo gate --service orchestration-engine --override 'hotfix INC-42'": Cheap(
        0, "reason given: hotfix INC-42"
    ),
}


def _blocks(text: str) -> Iterator[list[str]]:
    """The lines of each fenced shell block, backslash continuations joined."""
    lines: list[str] | None = None
    for line in text.splitlines():
        fence = line.strip()
        if lines is None and fence.startswith("```") and fence[3:].strip() in SHELLS:
            lines = []
        elif lines is not None and fence == "```":
            joined: list[str] = []
            for part in lines:
                if joined and joined[-1].endswith("\\"):
                    joined[-1] = joined[-1][:-1] + " " + part.strip()
                else:
                    joined.append(part.rstrip())
            yield joined
            lines = None
        elif lines is not None:
            lines.append(line)


def _words(line: str) -> list[str]:
    """A shell line's words without comments and leading VAR=value assignments."""
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    return words


def documented(program: str) -> dict[str, list[str]]:
    """`program`'s commands in the pages' shell blocks -> the pages showing them."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for block in _blocks(page.read_text()):
            for line in block:
                words = _words(line)
                if words and (words[0] == program or words[0].endswith(f"/{program}")):
                    command = shlex.join([program, *words[1:]])
                    found.setdefault(command, []).append(page.relative_to(ROOT).as_posix())
    return found


def test_every_documented_command_names_the_test_that_runs_it() -> None:
    shown = documented("prober")
    assert len(shown) >= 20, f"the extraction found only {sorted(shown)}"
    missing = {cmd: pages for cmd, pages in shown.items() if cmd not in EXERCISED}
    assert not missing, (
        "documented commands no test exercises; add each to EXERCISED with the test that runs "
        f"it: {json.dumps(missing, indent=2)}"
    )
    stale = sorted(set(EXERCISED) - set(shown))
    assert not stale, f"EXERCISED lists commands no page shows any more: {stale}"


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_named_test_exists() -> None:
    wrong = []
    for command, where in EXERCISED.items():
        file, _, name = where.partition("::")
        if not (ROOT / file).is_file() or name not in _test_names(ROOT / file):
            wrong.append(f"{command!r} -> {where}")
        if where == CHEAP_TEST and command not in CHEAP:
            wrong.append(f"{command!r} -> {where}, but CHEAP has no entry for it")
    assert not wrong, "EXERCISED names tests that do not exist:\n" + "\n".join(wrong)
    assert set(CHEAP) <= set(EXERCISED)


def _parse(words: list[str]) -> argparse.Namespace:
    """The real command line's parse; a usage error becomes an AssertionError with its text."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return _parser().parse_args(words)
    except SystemExit:
        raise AssertionError(err.getvalue().strip()) from None


def test_every_documented_command_parses_with_the_real_command_line() -> None:
    broken = []
    for command, pages in documented("prober").items():
        # A page may write optional parts as `[--option VALUE]` and repetition as `...`.
        words = [w.strip("[]") for w in shlex.split(command)[1:] if w.strip("[]") != "..."]
        try:
            _parse(words)
        except AssertionError as exc:
            broken.append(f"{command} ({', '.join(pages)}): {exc}")
    assert not broken, "\n".join(broken)


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from _subcommands(sub, (*path, name))


def test_every_subcommand_has_help() -> None:
    commands = list(_subcommands(_parser()))
    assert ("slo", "gate") in commands and ("new", "pack") in commands
    for words in commands:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
            _parser().parse_args([*words, "--help"])
        assert done.value.code == 0, words
        assert out.getvalue().startswith(f"usage: prober {' '.join(words)}"), out.getvalue()
    top = prober("--help")
    assert top.returncode == 0 and "dogstatsd-listen" in top.stdout, top.stderr


def test_every_make_target_shown_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w.-]*):", (ROOT / "Makefile").read_text(), re.M))
    shown = {cmd.split()[1]: pages for cmd, pages in documented("make").items()}
    assert {"demo", "test"} <= set(shown), shown
    unknown = {t: p for t, p in shown.items() if t not in targets}
    assert not unknown, f"pages show make targets the Makefile lacks: {unknown}"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch folder laid out like the repository where the docs' relative paths resolve,
    so what the commands write (slo/, journeys/my_platform/, the store) stays out of it."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "journeys").mkdir()
    for pack in ("workflows", "nodered"):
        (tmp_path / "journeys" / pack).symlink_to(ROOT / "journeys" / pack)
    return tmp_path


def test_the_cheap_commands_run_for_real(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process through `prober.cli.main`, the console script's own entry (a child
    process per command would cost a second of imports each)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        statsd = f"udp://127.0.0.1:{agent.getsockname()[1]}"
        env = prober_env("http://127.0.0.1:8000", checkout, statsd)
        # The docs' commands run against the repository's own target, as written.
        del env["PROBER_TARGETS__SANDBOX__BASE_URL"]
        env.update(PROBER_CONFIG=str(CONFIG), MY_PLATFORM_PASSWORD="x", NODERED_PASSWORD="x")
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(checkout)
        failures = []
        for command in sorted(CHEAP, key=lambda c: CHEAP[c].phase):
            expected = CHEAP[command]
            code = main(shlex.split(command)[1:])
            out, err = capsys.readouterr()
            outcome = f"{command}: exit {code}\n{out}\n{err}"
            if code != expected.exit_code or expected.says.lower() not in out.lower():
                failures.append(outcome)
    assert not failures, "\n\n".join(failures)
    assert (checkout / "slo" / "modules" / "datadog_cuj_slo" / "main.tf").is_file()
    assert (checkout / "slo-json" / "datadog.json").is_file()
    assert (checkout / "journeys" / "my_platform" / "my_platform_api.py").is_file()


def test_run_repeats_rounds_every_interval_as_json(sandbox: SandboxProcess, tmp_path: Path) -> None:
    """The documented `--repeat 10 --every 10s --json`, with 2 rounds 1 s apart."""
    with BackgroundAgent() as agent:
        env = prober_env(sandbox.url, tmp_path, agent.url)
        done = prober(
            "run",
            "workflow_run_api",
            "--repeat",
            "2",
            "--every",
            "1s",
            "--json",
            env=env,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["journey"] for r in runs] == ["workflow_run_api"] * 2, done.stdout
    assert all(r["status"] == "success" for r in runs), done.stdout
    assert len({r["run_id"] for r in runs}) == 2
    # A lower bound only: the second round starts no sooner than --every after the first.
    assert runs[1]["started_at"] - runs[0]["started_at"] >= 0.9


def test_dogstatsd_listen_on_a_unix_socket_prints_what_an_agent_would_get(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dsd.socket"
    out = tmp_path / "listen.out"
    with out.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prober", "dogstatsd-listen", "--socket", str(path)],
            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        wait_for(lambda: "listening on" in out.read_text(), 20, what="the listener")
        sink = DogStatsdSink(Destination(socket_path=str(path)), m.Origin("dev", "local"))
        sink.emit(result(attempt()))
        sink.close()

        def printed() -> str | None:
            text = out.read_text()
            return text if "cuj.journey.runs" in text else None

        text = wait_for(printed, 10, what="decoded points")
    finally:
        proc.terminate()
        proc.wait(10)
    assert "count        cuj.journey.runs = 1.0" in text
    assert "status:success" in text
