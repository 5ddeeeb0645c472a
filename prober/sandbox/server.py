"""Serving the platform under uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import signal
import socket
import sys
from types import FrameType

import uvicorn

from prober.sandbox.settings import SandboxSettings
from prober.usage_error import UsageError


class ServeError(UsageError):
    """The platform cannot start; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose connections send small writes at once (TCP_NODELAY).

    uvicorn writes a response's headers and body separately; with Nagle's algorithm on, the
    body waits for the client's delayed ACK of the headers, ~40 ms on every keep-alive
    response. asyncio sets TCP_NODELAY itself only on sockets created with proto IPPROTO_TCP,
    and Linux passes the listener's option on to each accepted connection: so both.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc.strerror}); stop whatever holds the port "
            "or pass another --port"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(settings: SandboxSettings, host: str, port: int, *, host_explicit: bool) -> None:
    """Run until SIGINT/SIGTERM. Prints one JSON line with the URL once it accepts requests."""
    # The platform itself is imported here: `prober serve` imports this module for `bind`.
    from prober.sandbox.app import create_app
    from prober.sandbox.store import PlatformStore, StoreError

    if not is_loopback(host) and not host_explicit:
        raise ServeError(f"refusing to listen on {host}: pass --host {host} to mean it")
    sock = bind(host, port)  # first: a port in use or a bad host leaves no database behind
    try:
        PlatformStore(settings.db_path).close()  # fail fast, with the file named
    except StoreError as exc:
        sock.close()
        raise ServeError(str(exc)) from exc
    actual_port = sock.getsockname()[1]
    if not is_loopback(host):
        print(
            f"warning: the sandbox listens on {host}:{actual_port}, reachable from other "
            "machines; its default credentials are public"
            + (" and anyone can inject faults" if settings.faults_enabled else ""),
            file=sys.stderr,
        )
    shown_host = f"[{host}]" if ":" in host else host
    banner = {
        "event": "sandbox.listening",
        "url": f"http://{shown_host}:{actual_port}",
        "faults": settings.faults_enabled,
        "db": str(settings.db_path),
    }
    config = uvicorn.Config(
        create_app(settings),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = _AnnouncingServer(config, json.dumps(banner))
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down, through whatever handler was there
    # before it; a no-op handler turns an orderly shutdown into a normal exit 0.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The server has already shut down in order when this runs; nothing is left to do."""


class _AnnouncingServer(uvicorn.Server):
    """Prints one JSON line once it accepts requests, so callers learn the URL (and a port 0)."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self._banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print(self._banner, flush=True)
