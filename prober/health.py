"""The serve process's own endpoints, for the container and for people.

/healthz   200 while the process and its event loop are alive (a liveness probe)
/readyz    200 when the scheduler is running and, if browser journeys are scheduled, the shared
           browser is up; 503 with the reason otherwise (a readiness probe). It answers within
           about half a second: serve launches the browser at start, and while a launch is
           still going the answer is 503 "the browser is still starting", never a hung probe.
/status    JSON: per journey and target, the last result and the next run
/          the status page for people (prober/status_page.py), and under /artifacts/ the
           failure artifacts it shows and links (only files inside the artifacts folder)

Bound to 127.0.0.1 unless configured otherwise (serve.host), like the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

from prober import __version__
from prober.app import App
from prober.artifacts import SERVED
from prober.journey import Channel
from prober.scheduler import ProbeScheduler
from prober.status_page import SECURITY_HEADERS, PageView, job_view, render
from prober.trace_links import trace_url

READY_WAIT_S = 0.5  # the longest /readyz waits for a launch
STARTING = "the browser is still starting"


class BrowserReadiness:
    """Whether the shared browser is up, answered without waiting out a launch. Each check
    starts a launch in the background if none is going (one that is up returns at once; one
    that crashed or never started is relaunched, as a run would) and waits for it only
    briefly; meanwhile the answer is the last launch's outcome."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._launch: asyncio.Task[str | None] | None = None
        self._last: str | None = STARTING  # None: the last launch (or check) succeeded

    def kick(self) -> asyncio.Task[str | None]:
        if self._launch is not None and self._launch.done():
            self._last = self._launch.result()
            self._launch = None
        if self._launch is None:
            timeout_s = self._app.config.browser.launch_timeout
            self._launch = asyncio.create_task(self._app.browser_ready(timeout_s=timeout_s))
        return self._launch

    async def problem(self, wait_s: float = READY_WAIT_S) -> str | None:
        launch = self.kick()
        done, _ = await asyncio.wait({launch}, timeout=wait_s)
        if done:
            self._last = launch.result()
            return self._last
        return self._last or STARTING

    async def aclose(self) -> None:
        """Shutdown: stop waiting on a launch still going (closing the app stops Playwright,
        and the half-started browser with it)."""
        if self._launch is not None and not self._launch.done():
            self._launch.cancel()
            await asyncio.wait({self._launch})


def needs_browser(scheduler: ProbeScheduler) -> bool:
    return any(e.journey.channel is Channel.BROWSER for e in scheduler.entries.values())


def create_health_app(
    app: App, scheduler: ProbeScheduler, browser: BrowserReadiness | None
) -> Starlette:
    """`browser` None: no browser journey is scheduled, readiness does not depend on one."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    async def readyz(_: Request) -> JSONResponse:
        problems = []
        if not scheduler.running:
            problems.append("the scheduler is not running")
        if browser is not None:
            why = await browser.problem()
            if why is not None:
                problems.append(why)
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def status(_: Request) -> JSONResponse:
        stored = app.store.latest()
        journeys = []
        for job_id, entry in sorted(scheduler.entries.items()):
            last = scheduler.last.get(job_id)
            saved = stored.get((entry.journey.name, entry.target.name))
            journeys.append(
                {
                    "journey": entry.journey.name,
                    "target": entry.target.name,
                    "channel": str(entry.journey.channel),
                    "interval_s": entry.journey.interval_s,
                    "next_run": _iso(scheduler.next_run(job_id)),
                    "last": _linked(
                        _last(last.to_json() if last is not None else None, saved),
                        app.datadog_site,
                    ),
                }
            )
        return JSONResponse(
            {
                "version": __version__,
                "env": app.origin.env,
                "location": app.origin.location,
                "scheduler_running": scheduler.running,
                "runs": scheduler.runs,
                "skipped": scheduler.skipped,
                "journeys": journeys,
            }
        )

    def page_view() -> PageView:
        """Blocking (the store): called in a worker thread."""
        now = scheduler.clock()
        jobs = []
        for job_id, entry in sorted(scheduler.entries.items()):
            journey, target = entry.journey.name, entry.target.name
            window = scheduler.maintenance.active(journey, target, now)
            jobs.append(
                job_view(
                    app.store,
                    journey=journey,
                    target=target,
                    channel=str(entry.journey.channel),
                    interval_s=entry.journey.interval_s,
                    next_run=scheduler.next_run(job_id),
                    skipped=dict(scheduler.skipped_by_job.get(job_id, {})),
                    maintenance=None if window is None else window.describe(),
                )
            )
        return PageView(
            env=app.origin.env,
            location=app.origin.location,
            scheduler_running=scheduler.running,
            runs=scheduler.runs,
            skipped=dict(scheduler.skipped),
            last_heartbeat=scheduler.last_heartbeat,
            now=now,
            site=app.datadog_site,
            jobs=tuple(jobs),
        )

    async def page(_: Request) -> HTMLResponse:
        view = await asyncio.to_thread(page_view)
        return HTMLResponse(render(view, app.artifacts), headers=dict(SECURITY_HEADERS))

    async def artifact(request: Request) -> FileResponse | PlainTextResponse:
        path = app.artifacts.served(str(request.path_params["path"]))
        if path is None:
            return PlainTextResponse("not found", 404, headers=dict(SECURITY_HEADERS))
        # A screenshot is shown in the page; everything else is a download, never rendered.
        inline = path.suffix == ".png"
        return FileResponse(
            path,
            media_type=SERVED[path.suffix],
            filename=path.name,
            content_disposition_type="inline" if inline else "attachment",
            headers=dict(SECURITY_HEADERS),
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/artifacts/{path:path}", artifact),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/status", status),
        ]
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _last(live: dict[str, Any] | None, saved: Any) -> dict[str, Any] | None:
    """This process's last run, else the store's (runs before a restart)."""
    keys = ("status", "error_type", "failed_step", "failed_service", "duration_s", "within_slo",
            "trigger", "run_id", "trace_id", "started_at")  # fmt: skip
    if live is not None:
        return {key: live[key] for key in keys}
    return None if saved is None else {key: getattr(saved, key) for key in keys}


def _linked(last: dict[str, Any] | None, site: str | None) -> dict[str, Any] | None:
    return None if last is None else {**last, "trace_url": trace_url(site, last["trace_id"])}


class HealthServer(uvicorn.Server):
    """uvicorn inside the serve loop. Signals stay with `prober serve`, which owns shutdown;
    `announce` is called once requests are accepted (the caller prints where)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._announce()
