"""The `prober` command line: a thin edge turning arguments into calls and errors into exit codes.

Exit codes (DESIGN §12): 0 all passed, 1 a journey failed, 2 usage or configuration error,
3 only prober faults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prober import __version__

EXIT_OK = 0
EXIT_USAGE = 2


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535 (0 picks a free port)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prober", description="Synthetic probes for Critical User Journeys."
    )
    parser.add_argument("--version", action="version", version=f"cuj-prober {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the reference workflow platform",
        description="Serve the reference workflow platform (DESIGN §9) on loopback.",
    )
    sandbox.add_argument(
        "--host", default=None, help="address to bind (default 127.0.0.1; others only if given)"
    )
    sandbox.add_argument("--port", type=_port, default=8000, help="port (0 picks a free one)")
    sandbox.add_argument(
        "--faults", action="store_true", help="enable the fault-injection API at /_sandbox/faults"
    )
    sandbox.add_argument(
        "--db", type=Path, default=None, help="SQLite file (default .prober/sandbox.db)"
    )
    sandbox.add_argument(
        "--request-log",
        default="-",
        metavar="PATH",
        help="where request log lines go: a file, '-' for stdout (default), 'off'",
    )
    sandbox.add_argument("--seed", type=int, default=None, help="seed for fault `rate` rolls")
    sandbox.add_argument(
        "--upstream-timeout",
        type=float,
        default=5.0,
        metavar="SEC",
        help="the engine's deadline for its calls to other services (default 5)",
    )

    listen = commands.add_parser(
        "dogstatsd-listen",
        help="print the DogStatsD datagrams that would reach an agent",
        description="Receive DogStatsD datagrams on loopback and print them decoded.",
    )
    listen.add_argument("--port", type=_port, default=8125, help="UDP port (default 8125)")
    listen.add_argument("--socket", type=Path, default=None, help="a unix datagram socket path")
    return parser


def _listen(args: argparse.Namespace) -> int:
    from prober.listen import run

    return run(args.port, args.socket)


def _sandbox(args: argparse.Namespace) -> int:
    from prober.sandbox.server import ServeError, serve
    from prober.sandbox.settings import DEFAULT_DB, SandboxSettings

    settings = SandboxSettings(
        db_path=args.db or DEFAULT_DB,
        faults_enabled=args.faults,
        request_log=None if args.request_log == "off" else args.request_log,
        seed=args.seed,
        upstream_timeout_s=args.upstream_timeout,
    )
    try:
        serve(settings, args.host or "127.0.0.1", args.port, host_explicit=args.host is not None)
    except ServeError as exc:
        print(f"prober sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"sandbox": _sandbox, "dogstatsd-listen": _listen}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
