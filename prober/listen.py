"""`prober dogstatsd-listen`: see what would reach a Datadog agent, without one."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
from pathlib import Path
from typing import IO

from prober.dogstatsd_wire import WireError, decode
from prober.exit_codes import EXIT_USAGE


def open_socket(port: int, socket_path: Path | None) -> socket.socket:
    if socket_path is not None:
        if socket_path.exists() or socket_path.is_symlink():
            if not stat.S_ISSOCK(socket_path.lstat().st_mode):
                # Never delete what is not a socket: `--socket prober.yaml` is a typo, not a wish.
                raise FileExistsError(
                    errno.EEXIST, "exists and is not a socket; give a new path", str(socket_path)
                )
            socket_path.unlink()  # a socket left by an earlier listener
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(socket_path))
        return sock
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    return sock


def listen(sock: socket.socket, out: IO[str], count: int | None = None) -> None:
    """Print every point received, one per line, until interrupted (or `count` datagrams)."""
    received = 0
    while count is None or received < count:
        data = sock.recv(65536)
        received += 1
        try:
            points = decode(data)
        except (WireError, ValueError) as exc:
            out.write(f"undecodable datagram ({exc}): {data[:200]!r}\n")
            continue
        for point in points:
            out.write(point.render() + "\n")
        out.flush()


def where(sock: socket.socket) -> str:
    address = sock.getsockname()
    if isinstance(address, str):
        return f"unix://{address}"
    return f"udp://{address[0]}:{address[1]}"


def run(port: int, socket_path: Path | None) -> int:
    try:
        sock = open_socket(port, socket_path)
    except OSError as exc:
        target = socket_path or f"127.0.0.1:{port}"
        fix = "give another --socket path"
        if socket_path is None:
            fix = "is an agent already there? Pass another --port"
        print(f"prober dogstatsd-listen: cannot listen on {target} ({exc.strerror}); {fix}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    print(
        f"listening on {where(sock)}; point the prober at it with DD_DOGSTATSD_URL={where(sock)}",
        flush=True,
    )
    try:
        listen(sock, sys.stdout)
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()
        if socket_path is not None and socket_path.exists():
            os.unlink(socket_path)
    return 0
