"""A third battery of careless and hostile input (issue 20), with the harness of
tests/test_bad_input_cli.py: every row runs `prober.cli.main(argv)` in a folder with a valid
config and pack, and must exit with its code, name what to fix, print no traceback, write
nothing and finish within the row's deadline. Special files (FIFOs, /dev/zero, a 1 GB sparse
file, symlink loops) stand in for the inputs that used to hang or exhaust memory. A few rows
run as a child process where the process itself matters (closed or full stdout, encodings).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.test_bad_input_cli import (
    CLOSED,
    CONFIG,
    GOOD_JOURNEY,
    refused_as,
    run_cli,
    workspace,
)

__all__ = ["workspace"]  # the fixture, shared with the first battery

Setup = Callable[[Path], object]


@dataclass(frozen=True)
class Row:
    argv: list[str]
    says: tuple[str, ...]
    code: int = 2
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None


def fifo(relative: str) -> Setup:
    def setup(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(root / relative)

    return setup


def _unlinked(path: Path) -> Path:
    path.unlink()
    return path


def sparse(relative: str, size: int = 1 << 30) -> Setup:
    def setup(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        with (root / relative).open("wb") as file:
            file.truncate(size)

    return setup


def loop(relative: str) -> Setup:
    return lambda root: os.symlink(root / relative, root / relative)


V = ["validate", "-c", "c.yaml"]


def wide(text: str) -> str:
    """`text` with its digits full-width (U+FF10..): digits to int() and float(), not to us."""
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in text)


def conf(
    says: tuple[str, ...],
    text: str,
    *,
    files: dict[str, str | bytes] | None = None,
    env: dict[str, str] | None = None,
    setup: Setup | None = None,
) -> Row:
    """validate -c c.yaml with `text` as the config (and other `files`)."""
    return Row(V, ("c.yaml", *says), 2, {"c.yaml": text, **(files or {})}, env or {}, setup)


def target(extra: str, *says: str, **kw: Any) -> Row:
    """A config whose target t1 has `extra` lines (indented 4) before base_url."""
    return conf(says, CONFIG.replace("    base_url", extra + "\n    base_url"), **kw)


def url(value: str, *says: str) -> Row:
    return conf(("base_url", *says), CONFIG.replace(f"http://127.0.0.1:{CLOSED}", value))


def pw(value: str, *says: str, **kw: Any) -> Row:
    return target(f'    username: u\n    password: "{value}"', "password", *says, **kw)


def envrow(variable: str, value: str, *says: str) -> Row:
    return Row(V, (variable, *says), files={"c.yaml": CONFIG}, env={variable: value})


def inc(name: str, data: str | bytes, *says: str, code: int = 2) -> Row:
    return Row(["slo", "backtest", "--incidents", name], (name, *says), code, {name: data})


def rules(data: str | bytes, *says: str) -> Row:
    return Row(["slo", "backtest", "--rules", "r.yaml"], ("r.yaml", *says), files={"r.yaml": data})


def journey(args: str, *says: str) -> Row:
    code = (f"from prober import Journey\nj = Journey('jx', cuj='c', service='s', team='t', "
            f"channel='api', {args})\n@j.step('s')\nasync def s(ctx): pass\n")  # fmt: skip
    return Row(["validate"], ("pack/x.py", *says), files={"pack/x.py": code})


INTERVAL = "overrides: {ok_journey: {%s}}\n"
TAG = "write lower case letters"
ARGPARSE = "error: argument"
ROWS: dict[str, Row] = {
    # --- the config file as a file: special files are refused before they are read ----------
    "-c /dev/zero": Row(["validate", "-c", "/dev/zero"], ("/dev/zero", "not a regular file")),
    "-c /dev/stdin": Row(["validate", "-c", "/dev/stdin"], ("/dev/stdin", "not a regular file")),
    "-c a FIFO": Row(["validate", "-c", "f.yaml"], ("f.yaml", "pipe"), setup=fifo("f.yaml")),
    "-c a 1 GB sparse file": Row(
        ["validate", "-c", "big.yaml"], ("big.yaml", "larger than 1 MiB"), setup=sparse("big.yaml")
    ),
    "-c a symlink loop": Row(["validate", "-c", "l.yaml"], ("l.yaml",), setup=loop("l.yaml")),
    "-c empty string": Row(["validate", "-c", ""], (ARGPARSE, "-c", "not a usable path")),
    "-c space around": Row(["validate", "-c", " c.yaml"], ("-c", "not a usable path")),
    "a folder named prober.yaml": Row(
        ["validate"],
        ("prober.yaml", "folder"),
        setup=lambda root: os.replace(root / "pack", _unlinked(root / "prober.yaml")),
    ),
    "-c given twice, differently": Row(
        ["validate", "-c", "a.yaml", "-c", "b.yaml"], ("-c/--config", "given twice")
    ),
    # --- the YAML ------------------------------------------------------------------------------
    "a scalar document": conf(("must be a mapping",), "hello\n"),
    "only comments": conf(("journeys", "add it"), "# nothing\n"),
    "two documents": conf(("another document",), CONFIG + "---\n" + CONFIG),
    "!!python/object tag": conf(("not valid YAML",), CONFIG + "x: !!python/object:os.system {}\n"),
    "custom tag": conf(("!secret",), CONFIG + "env: !secret prod\n"),
    "!!binary value": conf(("env", "not text"), CONFIG + "env: !!binary aGVsbG8=\n"),
    "an int key": conf(("Keys should be strings",), CONFIG + "1: x\n"),
    "a null target name": conf(("targets", "not text"), CONFIG.replace("t1:", "~:")),
    "a list key": conf(("unhashable key",), CONFIG + "? [a, b]\n: x\n"),
    "a tab indent": conf(("'\\t'",), "journeys: [pack]\ntargets:\n\tt1: {base_url: 'http://x'}\n"),
    "a 500 KB line": conf(("env", "at most 200"), CONFIG + "env: " + "a" * 500_000 + "\n"),
    "base 60 number": target("    request_timeout: 1:30", "request_timeout", "base 60"),
    "octal number": conf(("serve.port", "octal"), CONFIG + "serve: {port: 0700}\n"),
    "anchors across sections": conf(
        ("extra_origins", "not an http(s) URL"),
        "journeys: &j [pack]\ntargets:\n  t1: {base_url: 'http://127.0.0.1:9', "
        "extra_origins: *j}\n",
    ),
    # --- counts, numbers, durations: one rule each --------------------------------------------
    "port true": conf(("serve.port", "not a whole number"), CONFIG + "serve: {port: true}\n"),
    "port 80.0 from a variable": envrow("PROBER_SERVE__PORT", "80.0", "not a whole number"),
    "port full-width digits": envrow("PROBER_SERVE__PORT", wide("80"), "not a whole number"),
    "max_concurrent true": conf(
        ("max_concurrent", "not a whole number"), CONFIG + "browser: {max_concurrent: true}\n"
    ),
    "retries true": conf(("retries", "not a whole number"), CONFIG + INTERVAL % "retries: true"),
    "retries 1.0": conf(("retries", "not a whole number"), CONFIG + INTERVAL % "retries: 1.0"),
    "jitter false": conf(("jitter", "not a number"), CONFIG + "serve: {jitter: false}\n"),
    "duration full-width": target(
        wide("    request_timeout: '3s'"), "request_timeout", "write e.g."
    ),
    "duration -0s": target("    request_timeout: '-0s'", "request_timeout", "write e.g."),
    "duration 1e400": target("    request_timeout: 1e400", "request_timeout", "write e.g."),
    "duration 1m30s": target("    request_timeout: 1m30s", "request_timeout", "write e.g."),
    # --- URLs, hosts, globs, paths --------------------------------------------------------------
    "url with password": url("http://u:Hunter2Secret@x", "credentials", "***"),
    "url with query": url("http://x/?a=1", "query"),
    "url with fragment": url("http://x/#f", "fragment"),
    "url with trailing space": url("'http://x '", "space"),
    "url with a tab": url('"http://x\\t"', "space"),
    "url port 0": url("http://x:0", "port 0"),
    "url port 99999": url("http://x:99999", "not a URL"),
    "url port word": url("http://x:abc", "not a URL"),
    "url javascript:": url("'javascript:alert(1)'", "not an http(s) URL"),
    "url file:": url("file:///etc/passwd", "not an http(s) URL"),
    "extra origin with a path": target(
        "    extra_origins: ['http://cdn.example/x']", "extra_origins", "has a path"
    ),
    "service header with a space": target(
        "    service_header: 'x service'", "service_header", "header name"
    ),
    "service without globs": target("    services: {svc: []}", "services", "no path globs"),
    "glob like a regex": target("    services: {svc: ['/api/(a|b)']}", "services", "glob"),
    "glob with a class": target("    services: {svc: ['/api/[0-9]']}", "services", "glob"),
    "glob with a space": target("    services: {svc: ['/api /x']}", "services", "glob"),
    "glob owned twice": target("    services: {a: ['/x'], b: ['/x']}", "services", "both a and b"),
    "store path empty": conf(("store", "not a usable path"), CONFIG.replace("results.db", "''")),
    "serve.host with a space": conf(("serve.host",), CONFIG + "serve: {host: 'a b'}\n"),
    "serve.host empty": conf(("serve.host",), CONFIG + "serve: {host: ''}\n"),
    "override targets empty": conf(
        ("overrides.ok_journey.targets", "at least"), CONFIG + INTERVAL % "targets: []"
    ),
    "journeys ['']": conf(("empty journey pack path",), CONFIG.replace("[pack]", "['']")),
    "journeys a YAML file": conf(("not a journey pack",), CONFIG.replace("[pack]", "[c.yaml]")),
    "journeys an empty folder": conf(
        ("empty", "declares no journey"),
        CONFIG.replace("[pack]", "[pack, empty]"),
        setup=lambda root: (root / "empty").mkdir(),
    ),
    # --- ${...} references --------------------------------------------------------------------
    "${file:/dev/zero}": pw("${file:/dev/zero}", "not a regular file"),
    "${file:/dev/stdin}": pw("${file:/dev/stdin}", "not a regular file"),
    "${file:} a FIFO": pw("${file:f}", "pipe", setup=fifo("f")),
    "${file:} a folder": pw("${file:pack}", "folder"),
    "${file:} 1 GB": pw("${file:big}", "larger than 64 KiB", setup=sparse("big")),
    "${file:} a symlink loop": pw("${file:l}", "symbolic links", setup=loop("l")),
    "${file:} Latin-1": pw("${file:s}", "not UTF-8", files={"s": b"p\xe9\n"}),
    "${file:} a NUL": pw("${file:s}", "NUL", files={"s": b"a\x00b"}),
    "${file:} two newlines": pw("${file:s}", "line break", files={"s": "pw\n\n"}),
    "${file:} empty": pw("${file:s}", "is empty", files={"s": ""}),
    "${VAR} empty": pw("${PW}", "is empty", env={"PW": ""}),
    "${VAR} with a newline": pw("${PW}", "line break", env={"PW": "pw\n"}),
    "${A:-${B}} is not nesting": conf(("env", "malformed"), CONFIG + "env: '${E:-${F}}'\n"),
    "${} empty": pw("${}", "malformed"),
    # --- PROBER_ and DD_ variables ------------------------------------------------------------
    "PROBER___X": envrow("PROBER___ENV", "prod", "empty key"),
    "PROBER_ password with a newline": envrow("PROBER_TARGETS__T1__PASSWORD", "pw\n", "line break"),
    "PROBER_ JSON of the wrong type": envrow("PROBER_TARGETS", "{t1: 5}", "valid dictionary"),
    "PROBER_ a 1 MB value": envrow("PROBER_ENV", "a" * 1_000_000, "at most 200"),
    "DD_DOGSTATSD_URL port 0": envrow("DD_DOGSTATSD_URL", "udp://x:0", "1 to 65535"),
    "DD_DOGSTATSD_URL with a user": envrow("DD_DOGSTATSD_URL", "udp://u:p@x:1", "no user"),
    "DD_DOGSTATSD_URL relative socket": envrow("DD_DOGSTATSD_URL", "unix://a.sock", "absolute"),
    "DD_AGENT_HOST a URL": envrow("DD_AGENT_HOST", "http://x", "host name"),
    # --- flags ----------------------------------------------------------------------------------
    "--retries full-width": Row(["run", "--retries", wide("1")], ("--retries",)),
    "--port full-width": Row(["sandbox", "--port", wide("80")], ("--port", "port number")),
    "--seed 5000 digits": Row(["sandbox", "--seed", "9" * 5000], ("--seed",)),
    "--shard huge N": Row(["serve", "--shard", "0/" + "9" * 30], ("--shard",)),
    "--shard full-width": Row(["serve", "--shard", wide("0/2")], ("--shard",)),
    "--shard 3/3": Row(["serve", "--shard", "3/3"], ("--shard", "0..N-1")),
    "--shard -1/2": Row(["serve", "--shard=-1/2"], ("--shard", "I/N")),
    "--env twice": Row(["run", "--env", "a", "--env", "b"], ("--env", "given twice")),
    "--target empty": Row(["run", "--target", ""], ("--target",)),
    "--junit empty": Row(["smoke", "--junit", ""], ("--junit", "not a usable path")),
    "new --dir empty": Row(["new", "pack", "good", "--dir", ""], ("--dir",)),
    "--notify-page with a space": Row(
        ["slo", "export", "--format", "openslo", "--notify-page", "pager duty"],
        ("--notify-page", "one word"),
    ),
    "--notify-ticket with a newline": Row(
        ["slo", "export", "--format", "openslo", "--notify-ticket", "@a\n@b"],
        ("--notify-ticket",),
    ),
    "--prober-team not a tag": Row(
        ["slo", "export", "--format", "openslo", "--prober-team", "SRE Team"], ("--prober-team",)
    ),
    "--location twice": Row(
        ["slo", "export", "--format", "openslo", "--location", "a", "--location", "a"],
        ("--location", "twice"),
    ),
    "--window full-width": Row(["slo", "status", "--window", wide("30d")], ("--window",)),
    "--time-scale full-width": Row(
        ["slo", "backtest", "--time-scale", wide("2")], ("--time-scale",)
    ),
    "--last with --from": Row(
        ["slo", "backtest", "--from", "2026-01-01", "--last", "1h"], ("--last", "not both")
    ),
    "--from 1970": Row(["slo", "backtest", "--from", "1970-01-01"], ("longer than 366d",)),
    "--datadog-url javascript:": Row(
        ["slo", "gate", "--source", "datadog", "--datadog-url", "javascript:x"],
        ("--datadog-url",),
    ),
    "--datadog-url with a password": Row(
        ["slo", "gate", "--source", "datadog", "--datadog-url", "https://u:SECRETPW@x"],
        ("--datadog-url", "***"),
    ),
    "DD_SITE garbage": Row(
        ["slo", "gate", "--source", "datadog"], ("DD_SITE",), env={"DD_SITE": "not a site/"}
    ),
    "DD_HOST ftp": Row(
        ["slo", "gate", "--source", "datadog"], ("DD_HOST",), env={"DD_HOST": "ftp://x"}
    ),
    "--service empty": Row(["slo", "gate", "--service", ""], ("--service",)),
    "sandbox --request-log a folder": Row(
        ["sandbox", "--request-log", "pack", "--port", "0"], ("pack", "--request-log")
    ),
    # --- incidents, rules, Terraform ----------------------------------------------------------
    "incidents /dev/zero": Row(["slo", "backtest", "--incidents", "/dev/zero"], ("/dev/zero",)),
    "incidents a FIFO": Row(
        ["slo", "backtest", "--incidents", "f.csv"], ("f.csv", "pipe"), setup=fifo("f.csv")
    ),
    "incidents 1 GB": Row(
        ["slo", "backtest", "--incidents", "i.csv"], ("i.csv", "larger than"), setup=sparse("i.csv")
    ),
    "incidents 20000 rows": inc(
        "i.csv", "start,end,journey\n" + "1,9,ok_journey\n" * 20_000, "more than 10000"
    ),
    "incidents YAML in a .csv": inc("i.csv", "- {start: 1, end: 9}\n", "unknown column"),
    "incidents Latin-1": inc(
        "i.csv", b"start,end,journey,label\n1,9,ok_journey,caf\xe9\n", "UTF-8"
    ),
    "incidents UTF-16": inc("i.csv", "start,end,journey\n".encode("utf-16"), "UTF-8"),
    "incidents short row": inc("i.csv", "start,end,journey\n1\n", "line 2", "cell"),
    "incidents long row": inc("i.csv", "start,end,journey\n1,9,ok_journey,x\n", "line 2"),
    "incidents column twice": inc("i.csv", "start,start,end,journey\n1,2,9,x\n", "twice"),
    "incidents open quote": inc("i.csv", 'start,end,journey\n1,9,"ok_journey\n', "CSV"),
    "incidents zero length": inc("i.csv", "start,end,journey\n5,5,ok_journey\n", "no length"),
    "incidents key twice": inc("i.yaml", "- {start: 1, start: 2, end: 9}\n", "given twice"),
    "incidents python tag": inc("i.yaml", "- !!python/object:os.system {}\n", "not valid YAML"),
    "incidents journey a list": inc(
        "i.yaml", "- {start: 1, end: 9, journey: [ok_journey]}\n", "journey is a list"
    ),
    "incidents base 60": inc("i.yaml", "- {start: 1:30, end: 9, journey: ok}\n", "base 60"),
    "rules Latin-1": rules(b"- name: x\n  slo_target: 0.9\xe9\n", "UTF-8"),
    "rules key twice": rules("- name: a\n  name: b\n", "given twice"),
    "rules a number as name": rules("- name: 5\n", "give it a name"),
    "rules /dev/zero": Row(["slo", "backtest", "--rules", "/dev/zero"], ("/dev/zero",)),
    "lint a FIFO .tf": Row(
        ["slo", "lint", "tf"],
        ("tf/main.tf", "pipe"),
        setup=fifo("tf/main.tf"),
    ),
    "lint a 1 GB .tf": Row(
        ["slo", "lint", "tf"], ("tf/main.tf", "larger than"), setup=sparse("tf/main.tf")
    ),
    "lint a Latin-1 .tf": Row(
        ["slo", "lint", "tf"], ("tf/main.tf", "UTF-8"), files={"tf/main.tf": b'a = "\xe9"\n'}
    ),
    # --- journey declarations -------------------------------------------------------------------
    "journey tag key with a space": journey("tags={'Bad Key': 'x'}", "tags"),
    "journey tag value upper case": journey("tags={'k': 'Bad Value'}", "tags", TAG),
    "journey runbook javascript:": journey("runbook='javascript:alert(1)'", "runbook"),
    "journey session 'yes'": journey("session='yes'", "session"),
    "journey description 1 MB": journey("description='x' * 10**6", "description"),
    "journey waits a string": journey("waits='abc'", "waits"),
    "journey interval full-width": journey(wide("interval='60s'"), "interval"),
    "journey slo_target True": journey("slo_target=True", "slo_target"),
    "journey retries 1.0": journey("retries=1.0", "retries"),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_more_bad_input(
    row: Row, workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    for relative, data in row.files.items():
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    if row.setup is not None:
        row.setup(workspace)
    both = refused_as(row.argv, row.code, row.says, workspace, capsys)
    assert "Hunter2Secret" not in both and "SECRETPW" not in both  # a password is never echoed
    assert len(both) < 6000, both[:500]


def test_the_third_battery_is_large() -> None:
    assert len(ROWS) >= 120


def test_a_module_that_prints_at_import_does_not_corrupt_json(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pack" / "noisy.py").write_text("print('noise at import')\n")
    code, out, err = run_cli(["list", "--json"], capsys)
    assert code == 0, err
    assert out.startswith('{"journey": "ok_journey"') and "noise" not in out
    assert "noise at import" in err


# --- the process itself: closed or full stdout, an ASCII-only terminal ------------------------


def _prober(args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    environ.update(env)
    command = f"{sys.executable} -m prober {args}"
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=environ, text=True, check=False,
                          capture_output=True, timeout=60, errors="replace")  # fmt: skip


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_closed_and_full_stdout_and_ascii_output(workspace: Path) -> None:
    (workspace / "bad.yaml").write_text(CONFIG + "env: Prod Ünïcødé\n", encoding="utf-8")
    closed = _prober("list >&-", workspace)
    assert closed.returncode == 2 and "stdout is closed" in closed.stderr, closed.stderr
    full = _prober("slo export --format datadog-json > /dev/full", workspace)
    assert full.returncode == 2 and "No space left on device" in full.stderr, full.stderr
    ascii_only = _prober("validate -c bad.yaml", workspace, PYTHONIOENCODING="ascii", LC_ALL="C")
    assert ascii_only.returncode == 2 and "env" in ascii_only.stderr, ascii_only.stderr
    for done in (closed, full, ascii_only):
        assert "Traceback" not in done.stdout + done.stderr
    assert GOOD_JOURNEY  # the workspace's pack is the first battery's
