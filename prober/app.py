"""The composition root: one config becomes a runner, a browser, a store and the sinks.

`run`, `smoke` and `serve` all execute journeys through `App.execute`, so the three uses share
one runner, one metric contract and one place that turns an unexpected crash into a
`probe_error` result instead of a lost run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import IO, Any

from prober.artifacts import ArtifactStore
from prober.config import LoadedConfig
from prober.drivers.browser import BrowserDriver
from prober.drivers.http import HttpDriver
from prober.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_PROBE_ERROR
from prober.journey import Channel, Journey
from prober.login_gate import LoginGate
from prober.metrics import Origin
from prober.paths import PathError, writable_folder
from prober.result import JourneyResult, Status, Trigger
from prober.runner import Runner, StepListener, new_run_id, probe_error_result
from prober.session_file import SESSIONS_FOLDER, SessionFiles
from prober.sinks import FanOut, Sink
from prober.sinks.dogstatsd import DogStatsdSink, resolve_destination
from prober.sinks.log import LogSink
from prober.sinks.store import StoreSink
from prober.slo.blame import blame_failed_run
from prober.slo.spec import Quorum
from prober.store import ResultStore
from prober.target import Target

log = logging.getLogger(__name__)

_ARTIFACTS_SETTING = "artifacts.path (PROBER_ARTIFACTS__PATH)"


def exit_code(results: Sequence[JourneyResult]) -> int:
    """1 if any journey failed, else 3 if the prober broke, else 0."""
    statuses = {r.status for r in results}
    if Status.FAILURE in statuses:
        return EXIT_FAILED
    if Status.PROBE_ERROR in statuses:
        return EXIT_PROBE_ERROR
    return EXIT_OK


class App:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        env: str | None = None,
        log_stream: IO[str] | None = None,
    ) -> None:
        config = loaded.config
        self.config = config
        self.origin = Origin(env or config.env, config.location)
        self.datadog_site = loaded.datadog_site  # trace links (prober/trace_links.py)
        # A store or artifacts folder that cannot be used is a usage error before anything runs
        # (StoreError, PathError: exit 2), not a traceback.
        artifacts_root = loaded.resolve(config.artifacts.path)
        writable_folder(artifacts_root, _ARTIFACTS_SETTING)
        store_path = loaded.resolve(config.store.path)
        self.store = ResultStore(store_path)
        # Logins shared with the other prober processes of the host that use this store
        # (prober/session_file.py): an incident's `prober run`s beside `serve` log in once.
        self.sessions = SessionFiles(store_path.parent / SESSIONS_FOLDER)
        self.browser = BrowserDriver(
            config.browser.executable_path,
            headless=config.browser.headless,
            launch_timeout_s=config.browser.launch_timeout,
        )
        self.artifacts = ArtifactStore(
            artifacts_root,
            keep_runs=config.artifacts.keep_runs,
            max_age_s=config.artifacts.max_age,
            on_success=config.artifacts.on_success,
        )
        self.runner = Runner(
            http=HttpDriver(gate=LoginGate(files=self.sessions)),
            browser=self.browser,
            artifacts=self.artifacts,
            cleanup_timeout_s=config.serve.cleanup_timeout,
        )
        self.statsd = DogStatsdSink(
            resolve_destination(config.datadog.statsd_url, loaded.environ),
            self.origin,
            site=self.datadog_site,
        )
        sinks: list[Sink] = [StoreSink(self.store, self.origin), self.statsd]
        if log_stream is not None:
            sinks.append(LogSink(self.origin, log_stream, site=self.datadog_site))
        self.fanout = FanOut(sinks, on_internal_error=self.statsd.internal_error)
        # Several locations with their stores readable here (`slo.stores`): a failed scheduled
        # run says whether the others fail it too (prober/slo/blame.py).
        n = config.slo.min_locations
        self.quorum = None if n is None or not config.slo.stores else Quorum(
            n, tuple(config.slo.locations))  # fmt: skip
        self.other_stores = [loaded.resolve(path) for path in config.slo.stores]
        self._browser_slots = asyncio.Semaphore(config.browser.max_concurrent)
        self._groups: dict[tuple[str, str], asyncio.Lock] = {}
        try:
            self.prune()
        except OSError as exc:  # e.g. a run folder inside that this user cannot remove
            self.store.close()
            raise PathError(
                f"{artifacts_root}: cannot prune the artifacts folder ({exc.strerror or exc}); "
                f"fix its permissions or choose another with {_ARTIFACTS_SETTING}"
            ) from None

    async def execute(
        self,
        journey: Journey,
        target: Target,
        trigger: Trigger,
        *,
        listener: StepListener | None = None,
        run_id: str | None = None,
        retries: int | None = None,
    ) -> JourneyResult:
        """Run once and hand the result to every sink (the store first). Never raises but
        for cancellation: a crash of the runner itself becomes a `probe_error` result.
        `retries` None keeps the journey's own."""
        run_id = run_id or new_run_id()
        started = time.time()
        try:
            # The group first, then a browser slot: a run waiting for its group holds no slot.
            async with self._exclusive(journey, target):
                if journey.channel is Channel.BROWSER:
                    async with self._browser_slots:
                        result = await self.runner.run(
                            journey, target, trigger, run_id=run_id, listener=listener,
                            retries=retries,
                        )  # fmt: skip
                else:
                    result = await self.runner.run(
                        journey, target, trigger, run_id=run_id, listener=listener, retries=retries
                    )
        except Exception as exc:
            log.exception("the runner crashed on %s/%s", journey.name, run_id)
            result = probe_error_result(
                journey,
                target,
                trigger,
                f"the runner crashed: {type(exc).__name__}: {exc}",
                run_id=run_id,
                started_at=started,
            )
        if result.status is Status.FAILURE and trigger is Trigger.SCHEDULE and self.quorum:
            result = await self._across_locations(journey, result, self.quorum)
        self.fanout.emit(result)
        return result

    async def _across_locations(
        self, journey: Journey, result: JourneyResult, quorum: Quorum
    ) -> JourneyResult:
        """The failed run with what the other locations see (their stores, read in a thread);
        unchanged if they cannot be read."""
        try:
            blamed = await asyncio.to_thread(
                blame_failed_run, journey, quorum, here=self.origin.location,
                stores=self.other_stores, env=self.origin.env, now=time.time(),
            )  # fmt: skip
        except Exception:
            log.exception("reading the other locations' stores for %s failed", journey.name)
            self.statsd.internal_error("blame", journey.name)
            return result
        return replace(result, locations=blamed.describe(journey.service))

    async def sweep(self, journey: Journey, target: Target) -> int | None:
        """Run the journey's Sweep outside a run (serve's schedule) and count what it found;
        None when it failed (logged and counted as an internal error: probing goes on)."""
        try:
            async with self._exclusive(journey, target):
                found = await self.runner.sweep(journey, target)
        except Exception as exc:
            log.warning("the sweep of %s on %s failed: %s: %s", journey.name, target.name,
                        type(exc).__name__, exc)  # fmt: skip
            self.statsd.internal_error("sweep", journey.name)
            return None
        self.statsd.leftovers(journey.name, target.name, found)
        if found:
            log.info(
                "the sweep of %s on %s removed %d leftover(s)", journey.name, target.name, found
            )
        return found

    def _exclusive(self, journey: Journey, target: Target) -> AbstractAsyncContextManager[Any]:
        """Journeys of one exclusive group never run at the same time against one target, in
        run, smoke and serve alike (all three execute through here)."""
        if journey.group is None:
            return contextlib.nullcontext()
        return self._groups.setdefault((journey.group, target.name), asyncio.Lock())

    def prune(self) -> tuple[int, int]:
        """Drop stored runs past `store.retention` and artifacts past their limits; returns
        (runs, artifact folders) removed. Blocking: serve calls it in a worker thread."""
        return self.store.prune(self.config.store.retention), self.artifacts.prune_all()

    async def browser_ready(self, timeout_s: float = 30.0) -> str | None:
        """None when the shared browser is up (launching it if needed), else why not."""
        try:
            await asyncio.wait_for(self.browser.browser(), timeout_s)
        except TimeoutError:
            return f"the browser did not start within {timeout_s:g}s"
        except Exception as exc:
            return str(exc)
        return None

    async def aclose(self) -> None:
        try:
            await self.browser.close()
        finally:
            self.fanout.close()
