"""CPU and memory of a whole process tree, Chromium's reparented helpers included.

`/usr/bin/time` and `getrusage(RUSAGE_CHILDREN)` only count children that their parent waited
for; Chromium's zygote and renderer processes are reparented to init and reaped there, so their
CPU is lost (about 40% of a browser journey's). A cgroup counts every process in it however it
was reaped: `TreeMeter.spawn` starts a worker inside a fresh cgroup v2 (or v1 cpuacct) group,
and everything the worker starts stays in it. Where no cgroup can be created it falls back to
summing /proc/<pid>/stat (utime+stime+cutime+cstime) over the worker's session, which Chromium's
processes keep - that misses only processes reaped by init, and the report says which was used.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
_V2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
_V1_ROOT = Path("/sys/fs/cgroup/cpuacct")


def _v2_root() -> Path | None:
    for root in _V2_ROOTS:
        if (root / "cgroup.procs").exists() and (root / "cpu.stat").exists():
            return root
    return None


class Group:
    """One cgroup (or, failing that, one session) that a worker and its descendants live in."""

    def __init__(self, name: str) -> None:
        self.kind = "session"
        self.path: Path | None = None
        self.sid: int | None = None
        for root, kind in ((_v2_root(), "cgroup2"), (_V1_ROOT, "cgroup1-cpuacct")):
            if root is None or not (root / "cgroup.procs").exists():
                continue
            path = root / f"cuj-bench-{os.getpid()}-{name}"
            try:
                path.mkdir(exist_ok=True)
                (path / "cgroup.procs").stat()
            except OSError:
                continue
            self.kind, self.path = kind, path
            break

    def add(self, pid: int) -> None:
        """Move process `pid` into the group."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(pid))

    def cpu_s(self) -> float:
        """CPU seconds (user+system) used by every process that was ever in the group."""
        if self.kind == "cgroup2" and self.path is not None:
            return _read_v2(self.path)
        if self.kind == "cgroup1-cpuacct" and self.path is not None:
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        return sum(ticks for _, ticks, _ in _session_procs(self.sid)) / TICKS

    def pids(self) -> list[int]:
        if self.path is not None:
            with contextlib.suppress(OSError):
                return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        return [pid for pid, _, _ in _session_procs(self.sid)]

    def rss_mib(self) -> float:
        return sum(rss_kib(pid) for pid in self.pids()) / 1024

    def close(self) -> None:
        if self.path is None:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.05)  # its last processes are still exiting


def _session_procs(sid: int | None) -> list[tuple[int, int, int]]:
    """(pid, cpu ticks incl. reaped children, ppid) of every process in session `sid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if sid is not None and int(fields[3]) == sid:
            ticks = sum(int(v) for v in fields[11:15])
            found.append((int(entry.name), ticks, int(fields[1])))
    return found


def rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1])


def own_group_cpu_s() -> float | None:
    """In a worker: the CPU of its own cgroup (None when it has none of its own)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, rel = line.split(":", 2)
        if "cuj-bench-" not in rel:
            continue
        if hid == "0" and (root := _v2_root()) is not None:
            return _read_v2(root / rel.lstrip("/"))
        if "cpuacct" in controllers.split(","):
            return int((_V1_ROOT / rel.lstrip("/") / "cpuacct.usage").read_text()) / 1e9
    return None


def _read_v2(path: Path) -> float:
    for line in (path / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    return 0.0


def session_cpu_s() -> float:
    """In a worker without a cgroup: CPU of its whole session (Chromium keeps the session)."""
    return sum(t for _, t, _ in _session_procs(os.getsid(0))) / TICKS


def tree_cpu_s() -> tuple[float, str]:
    """In a worker: CPU of its process tree so far, and how it was counted."""
    own = own_group_cpu_s()
    if own is not None:
        return own, "cgroup"
    return session_cpu_s(), "session"


def spawn(
    group: Group, argv: Sequence[str], *, env: dict[str, str] | None = None, **kw: object
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session and move it into `group` at once. (Not in a preexec_fn,
    which is unsafe once the bench runs a thread; the processes started here import for a
    good while before they start any child, so none escapes the group.)"""
    proc = subprocess.Popen(list(argv), env=env, start_new_session=True, **kw)  # type: ignore[call-overload]
    group.sid = proc.pid
    group.add(proc.pid)
    return proc  # type: ignore[no-any-return]


def group_pids() -> list[int]:
    """In a worker: every process of its own group (cgroup, else its session)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, rel = line.split(":", 2)
        if "cuj-bench-" not in rel:
            continue
        root = _v2_root() if hid == "0" else _V1_ROOT if "cpuacct" in controllers else None
        if root is not None:
            procs = (root / rel.lstrip("/") / "cgroup.procs").read_text().split()
            return [int(p) for p in procs]
    return [pid for pid, _, _ in _session_procs(os.getsid(0))]
