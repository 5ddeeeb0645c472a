"""`prober serve` as a child process: schedule, overlap, heartbeat, health, graceful stop."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from prober.health import STARTING
from prober.store import ResultStore, StoredRun
from tests.background_agent import BackgroundAgent
from tests.prober_cli import KUBERNETES, ROOT, prober_env
from tests.sandbox_process import SandboxProcess, wait_for

PACK = ROOT / "tests" / "packs" / "serving"
LINGERING_PACK = ROOT / "tests" / "packs" / "lingering"
# The serving pack's journeys register no cleanups: no cleanup budget, so a 2 s timeout fits
# a 2 s interval (catalog.worst_case_s).
NO_CLEANUP = {"PROBER_SERVE__CLEANUP_TIMEOUT": "0s"}
INTERVAL_S = 2.0


@dataclass
class Serving:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    banner: dict[str, object]
    store: Path

    @property
    def base(self) -> str:
        return str(self.banner["health"]).removesuffix("/healthz")

    def runs(self, journey: str) -> list[StoredRun]:
        if not self.store.exists():
            return []
        store = ResultStore(self.store)
        try:
            return sorted(store.runs(journey=journey), key=lambda r: r.started_at)
        finally:
            store.close()

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
        return int(line.split()[1])

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()


@pytest.fixture
def agent() -> Iterator[BackgroundAgent]:
    with BackgroundAgent() as listening:
        yield listening


def start_serve(
    sandbox: SandboxProcess, tmp: Path, agent: BackgroundAgent, *journeys: str, **env: str
) -> Serving:
    settings = {"PROBER_JOURNEYS": f"[{PACK}]", "PROBER_SERVE__PORT": "0", **NO_CLEANUP, **env}
    environ = prober_env(sandbox.url, tmp, agent.url, **settings)
    out, err = tmp / "serve.out", tmp / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prober", "serve", *journeys],
            env=environ,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )

    def banner() -> dict[str, object] | None:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {err.read_text()}")
        for line in out.read_text().splitlines():
            if '"prober.serving"' in line:
                return dict(json.loads(line))
        return None

    return Serving(proc, out, err, wait_for(banner, 30, what="serve banner"), tmp / "results.db")


@pytest.fixture
def serving(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def gaps(runs: list[StoredRun]) -> list[float]:
    return [b.started_at - a.started_at for a, b in itertools.pairwise(runs)]


@pytest.mark.browser
@pytest.mark.slow
def test_serve_runs_on_schedule_skips_overlaps_and_beats(
    sandbox: SandboxProcess,
    tmp_path: Path,
    agent: BackgroundAgent,
    serving: list[Serving],
) -> None:
    serve = start_serve(
        sandbox, tmp_path, agent, "fast_api", "fast_browser", "hanging",
        PROBER_SERVE__HEARTBEAT_INTERVAL="1s", PROBER_SERVE__JITTER="0.1",
    )  # fmt: skip
    serving.append(serve)
    assert sorted(serve.banner["jobs"]) == [  # type: ignore[call-overload]
        "fast_api@sandbox", "fast_browser@sandbox", "hanging@sandbox",
    ]  # fmt: skip
    with httpx.Client(base_url=serve.base, timeout=30) as health:
        assert health.get("/healthz").json()["status"] == "ok"
        wait_for(lambda: len(serve.runs("fast_api")) >= 3, 30, 0.2, "3 fast_api runs")
        early_rss = serve.rss_kib()
        # ~20 s of probing: enough for 10 runs per 2 s journey.
        wait_for(lambda: len(serve.runs("fast_api")) >= 11, 40, 0.2, "11 fast_api runs")
        wait_for(lambda: len(serve.runs("fast_browser")) >= 9, 20, 0.2, "9 fast_browser runs")
        late_rss = serve.rss_kib()
        ready = health.get("/readyz")
        assert ready.status_code == 200, ready.text
        status = health.get("/status").json()
    assert serve.stop() == 0, serve.output()

    for journey in ("fast_api", "fast_browser"):
        runs = serve.runs(journey)
        assert {r.status for r in runs} == {"success"}, journey
        assert {r.trigger for r in runs} == {"schedule"}
        between = gaps(runs)
        # On schedule, in what cannot flake on a loaded machine: never more often than every
        # 2 s (a start is never early; a late one only makes the next gap shorter by what it
        # lost), and none skipped: the wait above saw them keep coming. How close the starts
        # are to the schedule is a benchmark figure (scripts/bench --only schedule).
        span = runs[-1].started_at - runs[0].started_at
        assert len(between) <= span / 2.0 + 1, (journey, between)
        assert max(between) < 2.0 * 2 + 2.0, (journey, between)  # no missed beat

    hanging = serve.runs("hanging")
    assert hanging and {r.error_type for r in hanging} == {"timeout"}
    assert all(r.attempts == 3 for r in hanging)
    for before, after in itertools.pairwise(hanging):
        assert after.started_at >= before.finished_at - 0.1  # one at a time, never stacked
    overlaps = [p for p in agent.points("cuj.prober.runs.skipped") if p.tag("reason") == "overlap"]
    # The hanging journey always overruns; a fast one may too on a loaded machine (and is then
    # skipped, not stacked, the same way).
    assert "hanging" in {p.tag("journey") for p in overlaps}

    beats = agent.points("cuj.prober.heartbeat")
    assert len(beats) >= 15 and {p.tag("prober_version") for p in beats} == {"0.1.0"}
    assert {p.tag("trigger") for p in agent.points("cuj.journey.runs")} == {"schedule"}

    listed = {j["journey"]: j for j in status["journeys"]}
    assert set(listed) == {"fast_api", "fast_browser", "hanging"}
    assert listed["fast_api"]["last"]["status"] == "success"
    assert listed["hanging"]["last"]["error_type"] == "timeout"
    assert all(j["next_run"] for j in listed.values())
    assert status["skipped"]["overlap"] >= 1
    # Memory: ~8 more runs of each journey must not grow the process by more than a few MiB.
    assert late_rss - early_rss < 30 * 1024, (early_rss, late_rss)


def _workflows(sandbox: SandboxProcess, token: str) -> list[str]:
    answer = httpx.get(
        f"{sandbox.url}/api/workflows",
        params={"name_prefix": "prober-lingering-"},
        headers={"authorization": f"Bearer {token}"},
    )
    return [w["name"] for w in answer.json()["workflows"]]


def start_lingering(
    sandbox: SandboxProcess,
    token: str,
    tmp: Path,
    agent: BackgroundAgent,
    serving: list[Serving],
    *,
    linger: str,
    grace: str,
) -> Serving:
    """Serve the `lingering` journey; return once its run has created its workflow."""
    serve = start_serve(
        sandbox, tmp, agent, "lingering",
        PROBER_JOURNEYS=f"[{LINGERING_PACK}]", PROBER_SERVE__CLEANUP_TIMEOUT="10s",
        PROBER_TARGETS__SANDBOX__SETTINGS__LINGER_S=linger, PROBER_SERVE__SHUTDOWN_GRACE=grace,
    )  # fmt: skip
    serving.append(serve)
    wait_for(lambda: _workflows(sandbox, token), 30, what="the run to create its workflow")
    return serve


@pytest.mark.browser
def test_sigterm_lets_a_browser_run_finish_and_clean_up(
    sandbox: SandboxProcess,
    token: str,
    tmp_path: Path,
    agent: BackgroundAgent,
    serving: list[Serving],
) -> None:
    serve = start_lingering(sandbox, token, tmp_path, agent, serving, linger="3", grace="30s")
    assert serve.stop() == 0, serve.output()
    [run] = serve.runs("lingering")
    assert run.status == "success"
    assert _workflows(sandbox, token) == []  # its cleanup ran
    assert '"event": "prober.stopped"' in serve.out.read_text()
    assert not [p for p in agent.points("cuj.prober.runs.skipped")]


@pytest.mark.browser
def test_sigterm_past_the_grace_cancels_but_still_cleans_up(
    sandbox: SandboxProcess,
    token: str,
    tmp_path: Path,
    agent: BackgroundAgent,
    serving: list[Serving],
) -> None:
    serve = start_lingering(sandbox, token, tmp_path, agent, serving, linger="35", grace="1s")
    assert serve.stop(timeout=20) == 0, serve.output()
    assert serve.runs("lingering") == []  # cancelled: no result to store
    assert _workflows(sandbox, token) == []  # ...but its cleanup still ran
    [skip] = agent.points("cuj.prober.runs.skipped")
    assert skip.tag("reason") == "shutdown" and skip.tag("journey") == "lingering"
    # One line says so; no traceback (APScheduler logs a cancelled job as an error with one).
    output = serve.output()
    assert "cancelling the run of lingering@sandbox: still going after" in output
    assert "Traceback" not in output and "CancelledError" not in output
    assert " ERROR " not in output, output


def test_an_empty_shard_still_serves_and_a_taken_port_is_a_clear_error(
    sandbox: SandboxProcess, tmp_path: Path, agent: BackgroundAgent, serving: list[Serving]
) -> None:
    from prober.catalog import Shard

    names = ("fast_api", "fast_browser", "hanging")
    empty = next(i for i in range(50) if not any(Shard(i, 50).owns(n) for n in names))
    # Kubernetes injects PROBER_PORT, PROBER_SERVICE_HOST... for a Service named `prober`:
    # they are not config fields, so not overrides.
    environ = prober_env(sandbox.url, tmp_path, agent.url, PROBER_JOURNEYS=f"[{PACK}]",
                         PROBER_SERVE__PORT="0", PROBER_SERVE__HEARTBEAT_INTERVAL="1s",
                         **NO_CLEANUP, **KUBERNETES)  # fmt: skip
    out = tmp_path / "shard.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prober", "serve", "--shard", f"{empty}/50"],
            env=environ, cwd=ROOT, stdout=stdout, stderr=subprocess.STDOUT,
        )  # fmt: skip
    serving.append(Serving(proc, out, out, {}, tmp_path / "results.db"))
    banner = wait_for(
        lambda: next((json.loads(ln) for ln in out.read_text().splitlines()
                      if '"prober.serving"' in ln), None), 30, what="banner",
    )  # fmt: skip
    assert banner["jobs"] == [] and banner["shard"] == f"{empty}/50"
    wait_for(lambda: agent.points("cuj.prober.heartbeat"), 10, what="a heartbeat")
    health = str(banner["health"])
    assert httpx.get(health).status_code == 200
    port = health.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    taken = subprocess.run(
        [sys.executable, "-m", "prober", "serve"],
        env={**environ, "PROBER_SERVE__PORT": port}, cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert taken.returncode == 2, taken.stderr
    assert f"cannot listen on 127.0.0.1:{port} for /healthz" in taken.stderr
    assert "Traceback" not in taken.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_serve_prunes_old_runs_and_artifacts_while_it_runs(
    sandbox: SandboxProcess, tmp_path: Path, agent: BackgroundAgent, serving: list[Serving]
) -> None:
    serve = start_serve(
        sandbox, tmp_path, agent, "fast_api",
        PROBER_SERVE__PRUNE_INTERVAL="1s", PROBER_STORE__RETENTION="1d",
        PROBER_ARTIFACTS__MAX_AGE="1d",
    )  # fmt: skip
    serving.append(serve)
    wait_for(lambda: len(serve.runs("fast_api")) >= 2, 30, 0.2, "2 fast_api runs")
    # Age one stored run past the retention, as if serve had been up for two days.
    old, kept = (run.run_id for run in serve.runs("fast_api")[:2])
    with sqlite3.connect(serve.store) as db:
        db.execute(
            "UPDATE runs SET started_at = started_at - 172800, finished_at = finished_at - 172800"
            " WHERE run_id = ?",
            (old,),
        )
    two_days_ago = time.time() - 172800
    artifacts = tmp_path / "artifacts"
    stale, retired, fresh = (artifacts / "fast_api" / "stale-run", artifacts / "retired" / "old",
                             artifacts / "fast_api" / "fresh-run")  # fmt: skip
    for folder in (stale, retired, fresh):
        folder.mkdir(parents=True)
        (folder / "network.json").write_text("[]")
    for folder in (stale, retired):
        os.utime(folder, (two_days_ago, two_days_ago))

    def pruned() -> bool:
        ids = {r.run_id for r in serve.runs("fast_api")}
        return old not in ids and not stale.exists() and not retired.exists()

    wait_for(pruned, 20, 0.2, "the old run and the stale artifact folders to be pruned")
    assert fresh.exists()
    assert kept in {r.run_id for r in serve.runs("fast_api")}  # only the aged run went
    assert serve.stop() == 0, serve.output()
    assert "pruned 1 stored run(s)" in serve.output()


@pytest.mark.browser
def test_readyz_answers_at_once_while_the_browser_starts_then_says_why_it_failed(
    sandbox: SandboxProcess, tmp_path: Path, agent: BackgroundAgent, serving: list[Serving]
) -> None:
    # A "browser" that takes 6 s to die: serve launches it before scheduling anything, and
    # /readyz must not wait for that launch (a kubelet probe times out after 1 s by default).
    slow = tmp_path / "slow-chromium"
    slow.write_text("#!/bin/sh\nsleep 6\nexit 1\n")
    slow.chmod(0o755)
    serve = start_serve(
        sandbox, tmp_path, agent, "fast_browser",
        PROBER_BROWSER__EXECUTABLE_PATH=str(slow), PROBER_BROWSER__LAUNCH_TIMEOUT="30s",
    )  # fmt: skip
    serving.append(serve)
    with httpx.Client(base_url=serve.base, timeout=2) as health:
        starting = health.get("/readyz")
        assert starting.status_code == 503
        assert starting.json()["problems"] == ["the scheduler is not running", STARTING]

        def failed() -> dict[str, object] | None:
            answer = health.get("/readyz")
            assert answer.status_code == 503, answer.text
            problems = answer.json()["problems"]
            return answer.json() if len(problems) == 1 and problems != [STARTING] else None

        [why] = wait_for(failed, 30, 0.5, "/readyz to report the failed launch")["problems"]
    assert why.startswith(f"Chromium at {slow} would not start"), why
    # ...and scheduling went ahead without it: the browser journey is the prober's fault.
    wait_for(lambda: serve.runs("fast_browser"), 20, 0.2, "a fast_browser run")
    assert {r.status for r in serve.runs("fast_browser")} == {"probe_error"}
    assert serve.stop() == 0, serve.output()
    assert "the browser did not start" in serve.output()
