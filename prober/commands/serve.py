"""`prober serve`: the scheduler daemon (the container's command).

Start: the health endpoints, then the shared browser (when browser journeys are scheduled),
then the scheduler. SIGTERM or SIGINT: the scheduler stops starting runs, in-flight runs get
`serve.shutdown_grace` to finish (then are cancelled, their cleanups still run), sinks are
flushed, exit 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

import uvicorn

from prober.app import App
from prober.exit_codes import EXIT_OK
from prober.health import BrowserReadiness, HealthServer, create_health_app, needs_browser
from prober.journey import Journey
from prober.sandbox.server import ServeError, bind
from prober.scheduler import ProbeScheduler
from prober.target import Target

log = logging.getLogger(__name__)


async def serve(app: App, plan: Sequence[tuple[Journey, Target]], shard: str | None) -> int:
    policy = app.config.serve
    scheduler = ProbeScheduler(app, plan, policy)
    app.statsd.remember_failing(
        {key: run.status == "failure" for key, run in app.store.latest().items()}
    )
    try:
        sock = bind(policy.host, policy.port)
    except ServeError:
        raise ServeError(
            f"cannot listen on {policy.host}:{policy.port} for /healthz: stop whatever holds "
            "the port, or set serve.port (PROBER_SERVE__PORT; 0 picks a free one)"
        ) from None
    host, port = sock.getsockname()[:2]

    def announce() -> None:
        banner = {
            "event": "prober.serving",
            "health": f"http://{host}:{port}/healthz",
            "status": f"http://{host}:{port}/status",
            "page": f"http://{host}:{port}/",
            "env": app.origin.env,
            "location": app.origin.location,
            "shard": shard,
            "jobs": sorted(scheduler.entries),
        }
        print(json.dumps(banner), flush=True)

    browser = BrowserReadiness(app) if needs_browser(scheduler) else None
    health = create_health_app(app, scheduler, browser)
    server = HealthServer(
        uvicorn.Config(health, log_level="warning", lifespan="off", access_log=False), announce
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        if browser is not None:
            await _warm_up(browser, stop)
        if not stop.is_set():
            scheduler.start()
        await stop.wait()
        log.info("stopping: no new runs; up to %gs for runs in flight", policy.shutdown_grace)
        await scheduler.stop(policy.shutdown_grace)
    finally:
        server.should_exit = True
        await server_task
        if browser is not None:
            await browser.aclose()
        await app.aclose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    print(json.dumps({"event": "prober.stopped", "runs": scheduler.runs,
                      "skipped": scheduler.skipped}), flush=True)  # fmt: skip
    sys.stdout.flush()
    return EXIT_OK


async def _warm_up(browser: BrowserReadiness, stop: asyncio.Event) -> None:
    """Launch the shared browser before the first run: otherwise the first browser runs after
    every restart carry Chromium's start-up in their duration (and compete with it for CPU),
    and a readiness probe would wait on it. A browser that will not start does not hold up
    scheduling: API journeys run, browser journeys record probe_error until it starts."""
    launch = browser.kick()
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({launch, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if launch.done() and (why := launch.result()) is not None:
        log.error("the browser did not start (%s); browser journeys fail as probe_error until it "
                  "does", why)  # fmt: skip
