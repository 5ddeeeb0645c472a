"""Loading journey packs: import each module, collect its Journey objects, report the broken.

A module that fails to import or declares an invalid journey is reported with its file and
skipped; the others load. Two journeys with one name are both reported; the first one wins.
What a module prints while it is imported goes to stderr (stdout is the command's output). A
module that does not finish importing within IMPORT_TIMEOUT_S (a loop, a wait, a network call
at import time) is interrupted there and reported like one that fails to import; Ctrl-C stops
the command and names the module (exit 130).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from prober.errors import JourneyDefinitionError, JourneyImportInterrupted
from prober.journey import Journey

IMPORT_TIMEOUT_S = 30.0  # importing a module declares journeys; real work belongs in steps


class ImportTimedOut(BaseException):
    """Raised into a journey module still importing at the deadline. A BaseException, so the
    module's own `except Exception` cannot swallow it (and it is raised again every second)."""


@contextlib.contextmanager
def _import_deadline(source: Path) -> Iterator[None]:
    """Interrupt the import of `source` after IMPORT_TIMEOUT_S, with SIGALRM (main thread of a
    POSIX process; elsewhere nothing is timed out, and Ctrl-C remains)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise ImportTimedOut(str(source))

    outer_left, outer_every = signal.getitimer(signal.ITIMER_REAL)  # a caller's own deadline
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, IMPORT_TIMEOUT_S, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:  # put it back, less the time the import took
            left = outer_left - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_every)


def _timed_out(source: Path) -> str:
    return (
        f"import did not finish within {IMPORT_TIMEOUT_S:g}s (a loop, a wait or a network "
        "call at import time?); a module only declares journeys - move work into steps"
    )


@dataclass(frozen=True, slots=True)
class LoadProblem:
    source: str
    message: str

    def __str__(self) -> str:
        return (
            self.message
            if self.message.startswith(self.source)
            else f"{self.source}: {self.message}"
        )


@dataclass(frozen=True, slots=True)
class LoadReport:
    journeys: tuple[Journey, ...]
    problems: tuple[LoadProblem, ...]

    def by_name(self) -> dict[str, Journey]:
        return {j.name: j for j in self.journeys}


def _modules(path: Path) -> Iterable[Path]:
    if path.is_file():
        yield path
    else:
        yield from sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))


def _exec(name: str, spec: ModuleSpec | None, source: Path) -> ModuleType:
    """Import `spec` as module `name`; a module that fails to import leaves no trace."""
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        # What a module prints at import goes to stderr: stdout is the command's output
        # (`list --json`, `slo export` to stdout) and a stray print would corrupt it.
        with contextlib.redirect_stdout(sys.stderr):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _digest(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def _pack_package(pack: Path) -> str | None:
    """Import a pack with an __init__.py as a package, so its modules share helpers through
    relative imports (`from ._platform import ...`); None for a plain folder of files."""
    # Resolved: a pack mounted through symlinks (a Kubernetes ConfigMap) is the same pack, and
    # its modules must say where their code really is.
    pack = pack.resolve()
    init = pack / "__init__.py"
    if not init.is_file():
        return None
    name = f"prober_pack_{_digest(pack)}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(pack)]
        )
        _exec(name, spec, init)
    return name


def _import(file: Path, package: str | None) -> ModuleType:
    file = file.resolve()
    if package is not None:
        with contextlib.redirect_stdout(sys.stderr):
            return importlib.import_module(f"{package}.{file.stem}")
    name = f"prober_journeys_{_digest(file)}_{file.stem}"
    return _exec(name, importlib.util.spec_from_file_location(name, file), file)


def _not_a_pack(raw: str | Path, path: Path) -> LoadProblem | None:
    """Why the `journeys` entry `raw` (at `path`) is not a pack to import, or None."""
    if not str(raw).strip():
        return LoadProblem(repr(str(raw)), "an empty journey pack path; write the folder or .py "
                           "file of a pack in `journeys`")  # fmt: skip
    if not path.exists():
        return LoadProblem(str(path), "journey pack not found; fix the path in `journeys`")
    if path.is_file() and path.suffix != ".py":
        return LoadProblem(str(path), "not a journey pack: give a folder of .py files or one "
                           ".py file in `journeys`")  # fmt: skip
    if not path.is_file() and not path.is_dir():
        return LoadProblem(str(path), "not a file or a folder; give a pack's folder or .py file "
                           "in `journeys`")  # fmt: skip
    return None


def _load_module(file: Path, package: str | None) -> ModuleType | LoadProblem:
    """Import one journey module, or say why it did not import."""
    try:
        with _import_deadline(file):
            return _import(file, package)
    except ImportTimedOut:
        return LoadProblem(str(file), _timed_out(file))
    except KeyboardInterrupt:
        # Ctrl-C or the module raising it: stop loading, but name the module.
        raise JourneyImportInterrupted(str(file)) from None
    except JourneyDefinitionError as exc:
        return LoadProblem(str(file), str(exc))
    except SyntaxError as exc:
        return LoadProblem(str(file), f"line {exc.lineno}: syntax error: {exc.msg}")
    except (Exception, SystemExit) as exc:
        return LoadProblem(str(file), f"import failed: {type(exc).__name__}: {exc}")


def load_packs(paths: Iterable[str | Path], base: Path | None = None) -> LoadReport:
    journeys: dict[str, Journey] = {}
    problems: list[LoadProblem] = []
    for raw in paths:
        path = Path(raw)
        if base is not None and not path.is_absolute():
            path = base / path
        refused = _not_a_pack(raw, path)
        if refused is not None:
            problems.append(refused)
            continue
        found_before, problems_before = len(journeys), len(problems)
        try:
            with _import_deadline(path / "__init__.py"):
                package = _pack_package(path) if path.is_dir() else None
        except ImportTimedOut:
            problems.append(LoadProblem(str(path), f"pack {_timed_out(path)}"))
            continue
        except KeyboardInterrupt:
            raise JourneyImportInterrupted(str(path / "__init__.py")) from None
        except (Exception, SystemExit) as exc:
            problems.append(
                LoadProblem(str(path), f"pack import failed: {type(exc).__name__}: {exc}")
            )
            continue
        for file in _modules(path):
            module = _load_module(file, package)
            if isinstance(module, LoadProblem):
                problems.append(module)
                continue
            for value in vars(module).values():
                if not isinstance(value, Journey):
                    continue
                try:
                    value.validate_complete()
                except JourneyDefinitionError as exc:
                    problems.append(LoadProblem(str(file), str(exc)))
                    continue
                if value.name in journeys and journeys[value.name] is not value:
                    first = journeys[value.name].source
                    problems.append(
                        LoadProblem(
                            str(file),
                            f"journey {value.name!r} is also declared in {first}; "
                            "journey names must be unique - rename one",
                        )
                    )
                    continue
                journeys[value.name] = value
        if len(journeys) == found_before and len(problems) == problems_before:
            problems.append(LoadProblem(str(path), (
                "declares no journey (no .py file here creates a Journey); fix the path in "
                "`journeys`, or start one with `prober new pack NAME`"
            )))  # fmt: skip
    return LoadReport(tuple(journeys.values()), tuple(problems))
