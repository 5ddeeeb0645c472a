"""prober.yaml: interpolation, PROBER_ overrides, every problem reported with its place."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prober.catalog import Shard, build_catalog
from prober.config import ConfigError, load_config
from tests.prober_cli import CONFIG, KUBERNETES, ROOT, prober

GOOD = """\
env: staging
location: eu-west-1
journeys: [{packs}]
targets:
  main:
    base_url: ${{APP_URL:-http://127.0.0.1:8000}}
    username: prober
    password: ${{APP_PASSWORD}}
overrides:
  workflow_run_api: {{interval: 5m, retries: 2}}
  workflow_crud_browser: {{enabled: false}}
store: {{path: results.db, retention: 40d}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prober.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def good(tmp_path: Path) -> Path:
    return write(tmp_path, GOOD.format(packs=ROOT / "journeys" / "workflows"))


def test_references_defaults_and_overrides(tmp_path: Path) -> None:
    loaded = load_config(good(tmp_path), {"APP_PASSWORD": "s3cret"})
    target = loaded.targets()["main"]
    assert target.base_url == "http://127.0.0.1:8000"  # the default
    assert target.password is not None and target.password.reveal() == "s3cret"
    assert "s3cret" not in repr(loaded.config)  # a SecretStr never prints
    assert loaded.config.store.retention == 40 * 86400
    environ = {
        "APP_PASSWORD": "x",
        "APP_URL": "https://app.example",
        "PROBER_TARGETS__MAIN__BASE_URL": "https://override.example",
        "PROBER_LOCATION": "us-east-1",
        "PROBER_BROWSER__MAX_CONCURRENT": "4",
        "PROBER_JOURNEYS": f"[{ROOT / 'journeys' / 'workflows'}]",
    }
    config = load_config(good(tmp_path), environ).config
    assert config.targets["main"].base_url == "https://override.example"  # env beats file
    assert config.location == "us-east-1"
    assert config.browser.max_concurrent == 4


def test_overrides_reach_the_journeys(tmp_path: Path) -> None:
    catalog = build_catalog(load_config(good(tmp_path), {"APP_PASSWORD": "x"}))
    run_api = catalog.journeys["workflow_run_api"]
    assert run_api.interval_s == 300 and run_api.retries == 2
    assert run_api.steps  # the copy keeps the steps
    assert "workflow_crud_browser" in catalog.disabled
    enabled = [j.name for j in catalog.select([])]
    assert "workflow_crud_browser" not in enabled and len(enabled) == 4
    # Asked for by name, a disabled journey still runs; a glob skips it.
    assert [j.name for j in catalog.select(["workflow_crud_browser"])] == ["workflow_crud_browser"]
    assert [j.name for j in catalog.select(["workflow_crud_*"])] == ["workflow_crud_api"]


def test_every_problem_is_reported_with_line_and_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        env: Staging
        journeys: [journeys/workflows]
        targets:
          main:
            base_url: ftp://example
            password: hunter2
            request_timeout: soon
        browser: {max_concurent: 3}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    problems = [str(p) for p in caught.value.problems]
    expected = [
        f"{path}:1 env: 'Staging' is not a tag value",
        f"{path}:5 targets.main.base_url: 'ftp://example' is not an http(s) URL",
        f"{path}:6 targets.main.password: a literal password in the config file",
        f"{path}:7 targets.main.request_timeout: 'soon' is not a duration",
        f"{path}:8 browser.max_concurent: unknown field; did you mean 'max_concurrent'?",
    ]
    for start in expected:
        assert sum(p.startswith(start) for p in problems) == 1, (start, problems)
    assert len(problems) == len(expected)
    assert not any("hunter2" in p for p in problems)


def test_unset_variables_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(good(tmp_path), {})
    [problem] = caught.value.problems
    assert "targets.main.password" in problem.where
    assert "${APP_PASSWORD} is not set in the environment; export APP_PASSWORD" in problem.message
    broken = write(tmp_path, "env: dev\ntargets: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken, {})
    with pytest.raises(ConfigError, match="no such file; pass -c PATH or set PROBER_CONFIG"):
        load_config(tmp_path / "missing.yaml", {})


def test_override_problems_name_the_journey(tmp_path: Path) -> None:
    text = GOOD.format(packs=ROOT / "journeys" / "workflows").replace(
        "workflow_crud_browser: {enabled: false}",
        "workflow_crud_browsr: {enabled: false}\n  workflow_canvas_load: {interval: 1s}",
    )
    loaded = load_config(write(tmp_path, text), {"APP_PASSWORD": "x"})
    with pytest.raises(ConfigError) as caught:
        build_catalog(loaded)
    text_of = "\n".join(map(str, caught.value.problems))
    assert "overrides.workflow_crud_browsr: no journey is named 'workflow_crud_browsr'" in text_of
    assert "overrides.workflow_canvas_load: journey 'workflow_canvas_load': interval" in text_of
    assert "shorter than timeout" in text_of


def test_validate_command_reports_all_three_mistakes(tmp_path: Path) -> None:
    text = (
        CONFIG.read_text()
        .replace("env: dev", "env: Dev")
        .replace("base_url: http://127.0.0.1:8000", "base_url: 127.0.0.1:8000")
    )
    text += "browser: {headles: true}\n"
    path = write(tmp_path, text)
    environ = {"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "x"}
    done = prober("validate", "-c", str(path), env=environ)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}: 3 problems:" in done.stderr
    for where in ("env:", "targets.sandbox.base_url:", "browser.headles: unknown field"):
        assert where in done.stderr, done.stderr
    ok = prober("validate", env=environ)
    assert ok.returncode == 0, ok.stderr
    assert "ok - 5 journeys (3 browser, 2 api, 0 disabled), 1 target(s)" in ok.stdout


def test_shards_partition_the_journeys_stably() -> None:
    names = [f"journey_{i}" for i in range(200)] + [
        "workflow_canvas_load", "workflow_run_api", "workflow_run_browser",
        "workflow_crud_api", "workflow_crud_browser",
    ]  # fmt: skip
    for count in (1, 2, 3, 7):
        shards = [Shard(i, count) for i in range(count)]
        for name in names:
            assert sum(s.owns(name) for s in shards) == 1
        sizes = [sum(s.owns(n) for n in names) for s in shards]
        assert min(sizes) > len(names) / count / 2  # spread, not all in one shard
    # Stable across processes (Python's own hash() is salted per process).
    script = (
        "from prober.catalog import Shard; print([Shard(1, 3).owns(f'j{i}') for i in range(50)])"
    )
    outputs = set()
    for seed in ("1", "2"):
        outputs.add(
            subprocess.run(
                [sys.executable, "-c", script],
                env={"PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([Shard(1, 3).owns(f"j{i}") for i in range(50)])
    with pytest.raises(ValueError, match=r"I must be in 0\.\.N-1"):
        Shard.parse("3/3")
    with pytest.raises(ValueError, match=r"is not I/N"):
        Shard.parse("one of three")


def test_only_prober_variables_naming_a_field_are_overrides(tmp_path: Path) -> None:
    environ = {"APP_PASSWORD": "x", **KUBERNETES,
               "PROBER_OVERRIDES__WORKFLOW_RUN_API__RETRIES": "0",
               "PROBER_TARGETS__MAIN__REQUEST_TIMEOUT": "3s"}  # fmt: skip
    loaded = load_config(good(tmp_path), environ)
    assert loaded.config.serve.port == 8080  # PROBER_PORT is not serve.port, nor anything
    assert loaded.config.targets["main"].request_timeout == 3  # user-named maps still reached
    assert build_catalog(loaded).journeys["workflow_run_api"].retries == 0
    # The first key is a field: a wrong name below it is still an error naming the variable.
    with pytest.raises(ConfigError) as caught:
        load_config(good(tmp_path), {**environ, "PROBER_SERVE__PROT": "9000"})
    [problem] = caught.value.problems
    assert str(problem).startswith("PROBER_SERVE__PROT (environment) serve.prot: unknown field")
    assert "did you mean 'port'?" in problem.message
    # ...and the command a Deployment runs starts with them (validate loads what serve loads).
    done = prober("validate", env={"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "x", **KUBERNETES})
    assert done.returncode == 0, done.stderr


def test_an_override_below_a_shorthand_keeps_the_shorthand(tmp_path: Path) -> None:
    text = GOOD.format(packs=ROOT / "journeys" / "workflows")
    path = write(tmp_path, text.replace("store: {path: results.db, retention: 40d}",
                                        "store: /data/x.db\nartifacts: /data/art"))  # fmt: skip
    environ = {"APP_PASSWORD": "x", "PROBER_STORE__RETENTION": "10d",
               "PROBER_ARTIFACTS__KEEP_RUNS": "3"}  # fmt: skip
    config = load_config(path, environ).config
    assert (config.store.path, config.store.retention) == (Path("/data/x.db"), 10 * 86400)
    assert (config.artifacts.path, config.artifacts.keep_runs) == (Path("/data/art"), 3)
    # Setting the shorthand itself sets its path and keeps the rest of a table.
    config = load_config(good(tmp_path), {"APP_PASSWORD": "x", "PROBER_STORE": "/x.db"}).config
    assert (config.store.path, config.store.retention) == (Path("/x.db"), 40 * 86400)
    config = load_config(path, {**environ, "PROBER_ARTIFACTS": "/elsewhere"}).config
    assert (config.artifacts.path, config.artifacts.keep_runs) == (Path("/elsewhere"), 3)


def test_a_default_for_a_credential_is_a_literal_credential(tmp_path: Path) -> None:
    text = GOOD.format(packs=ROOT / "journeys" / "workflows")
    path = write(tmp_path, text.replace("${APP_PASSWORD}", "${APP_PASSWORD:-hunter2}"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    [problem] = caught.value.problems
    assert problem.where == f"{path}:8 targets.main.password"
    assert problem.message.startswith("APP_PASSWORD is not set, and the default written after")
    assert "export APP_PASSWORD" in problem.message and "${file:" in problem.message
    assert "hunter2" not in str(problem)
    # Set, the variable is what counts; so is an override from the environment.
    assert load_config(path, {"APP_PASSWORD": "s"}).targets()["main"].password is not None
    overridden = load_config(path, {"PROBER_TARGETS__MAIN__PASSWORD": "s"})
    assert overridden.config.targets["main"].password is not None
    # The repository's own config names no default either.
    assert "${SANDBOX_PASSWORD}" in CONFIG.read_text()


def test_credentials_from_files(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text("from-a-file\n")  # as `kubectl create secret` mounts it
    token = tmp_path / "token"
    token.write_text("tok\r\n")  # one line ending is stripped (a Windows editor's too)
    text = GOOD.format(packs=ROOT / "journeys" / "workflows").replace(
        "password: ${APP_PASSWORD}",
        f"password: ${{file:secrets/password}}\n    auth:\n      token: ${{file:{token}}}",
    )
    path = write(tmp_path, text)
    target = load_config(path, {}).targets()["main"]
    assert target.password is not None and target.password.reveal() == "from-a-file"
    assert target.auth.token is not None and target.auth.token.reveal() == "tok"
    token.write_text("tok\n\n")  # only one is: a blank last line would be in the credential
    with pytest.raises(ConfigError, match=r"auth\.token: contains a line break"):
        load_config(path, {})
    token.write_text("tok")
    (secrets / "password").unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    [problem] = caught.value.problems
    assert problem.where == f"{path}:8 targets.main.password"
    assert problem.message.startswith(f"${{file:secrets/password}}: {secrets / 'password'}: ")
    assert "no such file; check the path" in problem.message


def test_a_journey_that_cannot_keep_its_schedule_is_refused(tmp_path: Path) -> None:
    text = GOOD.format(packs=ROOT / "journeys" / "workflows").replace(
        "workflow_run_api: {interval: 5m, retries: 2}", "workflow_run_api: {retries: 3}"
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        build_catalog(load_config(path, {"APP_PASSWORD": "x"}))
    [problem] = caught.value.problems
    source = ROOT / "journeys" / "workflows" / "workflow_run.py"
    assert problem.where == f"{source} (overridden at {path}:10 overrides.workflow_run_api)"
    assert problem.message.startswith(
        "journey 'workflow_run_api': its worst case, 4 attempt(s) x (20s timeout + 10s "
        "serve.cleanup_timeout) = 120s, is longer than its 60s interval"
    )
    assert "Make the interval at least 120s" in problem.message
    # A longer cleanup budget counts for every journey; a disabled journey is not scheduled.
    environ = {"APP_PASSWORD": "x", "PROBER_SERVE__CLEANUP_TIMEOUT": "11s"}
    with pytest.raises(ConfigError) as caught:
        build_catalog(load_config(good(tmp_path), environ))
    refused = sorted(p.message.split("'")[1] for p in caught.value.problems)
    assert refused == ["workflow_canvas_load", "workflow_crud_api", "workflow_run_browser"]
    assert str(ROOT / "journeys" / "workflows" / "workflow_canvas_load.py") in {
        p.where for p in caught.value.problems
    }
