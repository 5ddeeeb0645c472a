"""Sessions and credentials under attack: hostile session files, credentials followed through
redirects to other origins, refused logins shared by processes, odd login answers. Each over
real sockets against the cookie platform (tests/cookie_platform.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from prober import Journey, StepContext
from prober.drivers.http import HttpDriver
from prober.loader import load_packs
from prober.login_gate import LoginGate, credentials_key
from prober.runner import Runner
from prober.session import Session
from prober.session_file import SessionFiles
from prober.target import Credential, Secret, Target
from tests.cookie_platform import API_KEY, PASSWORD, CookiePlatform
from tests.loop_thread import LoopThread
from tests.test_platform_sessions import (
    PACK,
    ROOT,
    environ,
    pack_target,
    prober_runs_at_once,
    status,
)

QUERY_KEY = "qk&/+ 9=z%"  # characters that mean something in URLs


@pytest.fixture
def platform() -> Iterator[CookiePlatform]:
    with CookiePlatform(logins_per_minute=100) as running:
        yield running


@pytest.fixture(scope="module")
def profile() -> Journey:
    report = load_packs([PACK])
    assert not report.problems, report.problems
    return report.by_name()["cookie_profile_api"]


def shared_path(target: Target, files: SessionFiles) -> Path:
    return files.path(credentials_key(target.name, target.username, PASSWORD))


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _folder(path: Path) -> None:
    path.mkdir(mode=0o700)


def _deep(path: Path) -> None:
    path.write_text("[" * 50_000 + "]" * 50_000)
    path.chmod(0o600)


def _good(path: Path, **change: object) -> Callable[[Path], None]:
    def write(target: Path) -> None:
        data = {"token": None, "cookies": [["sid", "x"]], "expires_at": 4e9, **change}
        target.write_text(json.dumps(data))
        target.chmod(0o600)

    return write


def _huge(path: Path) -> None:
    with path.open("w") as file:
        file.write('{"token": "' + "a" * 5_000_000 + '", "cookies": [], "expires_at": 4e9}')
    path.chmod(0o600)


def _readable(path: Path) -> None:
    _good(path)(path)
    path.chmod(0o644)


def _elsewhere(path: Path) -> None:
    other = path.parent.parent / "elsewhere.json"
    _good(other)(other)
    path.symlink_to(other)


def _foreign(path: Path) -> None:
    _good(path)(path)
    os.chown(path, 65534, 65534)


def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff\x00garbage")
    path.chmod(0o600)


HOSTILE: dict[str, Callable[[Path], None]] = {
    "a folder": _folder,
    "a FIFO": _fifo,
    "nested 50000 deep": _deep,
    "a token with a line break": _good(Path(), token="abc\r\nX-Injected: 1"),
    "a cookie with a line break": _good(Path(), cookies=[["sid", "x\nSet: y"]]),
    "a cookie that starts another": _good(Path(), cookies=[["sid", "x; admin=1"]]),
    "a cookie of numbers": _good(Path(), cookies=[[1, 2]]),
    "5 MB": _huge,
    "world-readable": _readable,
    "a symlink to elsewhere": _elsewhere,
    "another user's": _foreign,
    "not JSON": _garbage,
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_session_file_is_neither_trusted_nor_fatal(
    kind: str,
    platform: CookiePlatform,
    profile: Journey,
    loop: LoopThread,
    tmp_path: Path,
) -> None:
    if kind == "another user's" and os.getuid() != 0:
        pytest.skip("needs root to give a file to another user")
    target = pack_target(platform, tmp_path)
    files = SessionFiles(tmp_path / "sessions")
    files.folder.mkdir(mode=0o700)
    path = shared_path(target, files)
    HOSTILE[kind](path)
    runner = Runner(http=HttpDriver(gate=LoginGate(files=files)))
    unblock = threading.Timer(20, lambda: path.open("w").close())  # a hung open, undone
    if kind == "a FIFO":
        unblock.start()
    try:
        result = loop.run(runner.run(profile, target), timeout=30)
    finally:
        unblock.cancel()
    assert status(result) == "success", result.to_json()
    assert platform.logins == 1 and platform.unauthorized == []
    assert "X-Injected" not in json.dumps(result.to_json())


def test_a_session_folder_of_another_user_is_not_used(
    platform: CookiePlatform, profile: Journey, loop: LoopThread, tmp_path: Path
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    target = pack_target(platform, tmp_path)
    folder = tmp_path / "sessions"
    folder.mkdir()
    folder.chmod(0o777)
    os.chown(folder, 65534, 65534)
    files = SessionFiles(folder)
    result = loop.run(Runner(http=HttpDriver(gate=LoginGate(files=files))).run(profile, target))
    assert status(result) == "success", result.to_json()
    assert list(folder.iterdir()) == []  # no session, no lock left where others can read them
    assert folder.stat().st_mode & 0o777 == 0o777  # nor its mode changed


def test_a_session_round_trips_and_a_hostile_one_does_not() -> None:
    good = Session("tok.en-1", (("sid", "a=b"), ("theme", '"dark"')), 4e9)
    assert Session.from_json(good.to_json()) == good
    assert Session.from_json('{"token": "a\\nb", "cookies": [], "expires_at": 1}') is None


def _elsewhere_url(platform: CookiePlatform) -> str:
    return platform.url.replace("127.0.0.1", "localhost") + "/echo"


def _bouncing(name: str, path: str, **declared: Any) -> Journey:
    journey = Journey(name, cuj="kit", service="cookie-api", team="t", channel="api",
                      timeout="8s", retries=0, **declared)  # fmt: skip

    @journey.step("follow the target's redirect")
    async def follow(ctx: StepContext) -> None:
        await ctx.api.get("/api/me")  # signed in: the session exists
        answer = await ctx.api.post(path, json={"note": "hello"})
        ctx.expect_status(answer, 200)

    return journey


@pytest.mark.parametrize("code", [302, 307])
def test_credentials_never_follow_a_redirect_to_another_origin(
    code: int, platform: CookiePlatform, loop: LoopThread, tmp_path: Path
) -> None:
    target = pack_target(platform, tmp_path)
    # The API key in a header and in the query, the login's cookie session: all of them.
    target = replace(target, credentials=(
        *target.credentials, Credential("query_key", "query", "key", Secret(QUERY_KEY)),
    ))  # fmt: skip
    to = quote(_elsewhere_url(platform), safe="")
    journey = _bouncing("bounce", f"/bounce?to={to}&code={code}")
    result = loop.run(Runner(http=HttpDriver(gate=LoginGate())).run(journey, target))
    assert status(result) == "success", result.to_json()
    assert len(platform.echoed) == 1
    sent = json.dumps(platform.echoed)
    for secret in (API_KEY, QUERY_KEY, *platform.session_ids()):
        assert secret not in sent, sent
    assert "x-cuj-probe" not in sent and "traceparent" not in sent
    assert "hello" in sent or code == 302  # a 307 keeps the body that holds no secret


def test_a_login_redirected_to_another_origin_does_not_take_the_password_along(
    platform: CookiePlatform, loop: LoopThread, tmp_path: Path
) -> None:
    target = pack_target(platform, tmp_path)
    moved = f"/bounce?to={quote(_elsewhere_url(platform), safe='')}&code=307"
    target = replace(target, auth=replace(target.auth, login_path=moved))
    journey = _bouncing("moved_login", "/api/me")
    result = loop.run(Runner(http=HttpDriver(gate=LoginGate())).run(journey, target))
    assert platform.echoed == []  # the password never left for the other origin
    assert status(result) != "success"
    assert result.failure is not None and "another origin" in result.failure.message
    assert PASSWORD not in json.dumps(result.to_json())


def test_processes_that_wait_for_a_refused_login_do_not_each_try_it(
    platform: CookiePlatform, tmp_path: Path
) -> None:
    """Four `prober run`s at once with a wrong password: one login is refused, the others see
    the refusal the first one shared and hold back (a platform locking the account after 5
    failures in 10 minutes would otherwise be one incident away from locking it)."""
    env = {**environ(platform, tmp_path), "COOKIE_PLATFORM_PASSWORD": "not-the-password"}
    codes, outputs = prober_runs_at_once(4, env, "cookie_profile_api", timeout=60)
    assert codes == [1] * 4, outputs
    assert platform.refused == 1, outputs
    said = "".join(out for out, _ in outputs)
    assert said.count("login refused") == 1 and said.count("login held back") == 3, said
    assert "wrong username or password" in said.split("login held back")[-1]  # the evidence
    assert "not-the-password" not in said
    # The fixed password is other credentials: it logs in at once.
    platform_env = {**env, "COOKIE_PLATFORM_PASSWORD": PASSWORD}
    codes, outputs = prober_runs_at_once(1, platform_env, "cookie_profile_api", timeout=60)
    assert codes == [0], outputs


@pytest.mark.parametrize(
    ("expires_in", "logins"),
    [(b"NaN", 1), (b'"3600"', 1), (b'"soon"', 1), (b"true", 1), (b"1e400", 1), (b"-5", 3)],
)
def test_an_odd_expires_in_neither_logs_in_every_run_nor_breaks_the_run(
    expires_in: bytes,
    logins: int,
    platform: CookiePlatform,
    profile: Journey,
    loop: LoopThread,
    tmp_path: Path,
) -> None:
    platform.expires_in = expires_in
    target, runner = pack_target(platform, tmp_path), Runner(http=HttpDriver(gate=LoginGate()))
    results = [loop.run(runner.run(profile, target)) for _ in range(3)]
    assert [status(r) for r in results] == ["success"] * 3, results[0].to_json()
    assert platform.logins == logins  # an expiry in the past: the platform's word, each run


@pytest.mark.parametrize("retry_after", ["\xb2", "1e9", "-5", "999999999999999999999", ""])
def test_an_odd_retry_after_is_a_client_error_with_a_bounded_hold(
    retry_after: str, platform: CookiePlatform, profile: Journey, loop: LoopThread, tmp_path: Path
) -> None:
    platform.retry_after = retry_after
    target, runner = pack_target(platform, tmp_path), Runner(http=HttpDriver(gate=LoginGate()))
    results = [loop.run(runner.run(profile, target)) for _ in range(2)]
    assert [status(r) for r in results] == ["client_error"] * 2, results[0].to_json()
    assert platform.rate_limited == 1  # the second run held back
    message = results[1].failure.message if results[1].failure else ""
    assert "login held back" in message and "429" in message


def test_a_journey_naming_an_unknown_credential_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "prober.yaml").write_text((PACK / "prober.yaml").read_text())
    pack = (PACK / "cookie_journeys.py").read_text()
    (tmp_path / "cookie_journeys.py").write_text(pack.replace('("api_key",)', '("api_kye",)'))
    env = {**os.environ, "COOKIE_PLATFORM_URL": "http://127.0.0.1:9",
           "COOKIE_PLATFORM_PASSWORD": "x", "COOKIE_PLATFORM_KEY": "y"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "prober", "validate", "-c", str(tmp_path / "prober.yaml")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'api_kye' is not a credential of target 'cookie' (did you mean 'api_key'?)" in (
        done.stderr
    )
