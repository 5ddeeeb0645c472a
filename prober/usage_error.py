"""`UsageError`: the base of every error that means "fix the command line, the config or a file
you gave" - exit 2 with a message that names what is wrong and what to do, never a traceback.

A light module (nothing of the prober's is imported here), so the CLI can catch the whole family
without importing the commands that raise it:

    UsageError
    ├── ConfigError        prober/config.py (every problem of the config at once)
    ├── SelectionError     prober/catalog.py
    ├── StoreError         prober/store.py
    ├── PathError          prober/paths.py
    ├── SloError           prober/slo/spec.py (IncidentError, RulesError)
    ├── LintError          prober/slo/lint.py
    ├── DemoError          prober/commands/demo.py
    ├── NewPackError       prober/commands/new.py
    └── ServeError         prober/sandbox/server.py
"""

from __future__ import annotations

from typing import IO


class UsageError(Exception):
    """The user can fix this; `report` prints what to fix."""

    def report(self, out: IO[str]) -> None:
        """One line (or a list, for a config with several problems) on `out`."""
        print(f"prober: {self}", file=out)
