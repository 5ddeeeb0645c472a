"""docs/writing-a-pack.md's API reference against the code, both ways: every public member of
StepContext and the kit is documented with the parameters it takes, and nothing documented is
gone."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import httpx

from prober import kit, rest
from prober.context import CleanupStack, RunInfo, StepContext
from prober.target import Target

DOC = Path(__file__).resolve().parent.parent / "docs" / "writing-a-pack.md"
HEADING = re.compile(r"^#### `([^`(]+)(\((.*)\))?`$", re.MULTILINE)
KIT = (kit.Duration, kit.Leftover, kit.Sweep, kit.Setting, kit.PackSettings, rest.RestCollection)
FUNCTIONS = (kit.patience_headroom_s, rest.parse_time)


def documented() -> dict[str, list[str] | None]:
    """Heading name -> the parameter names it shows (None: no parentheses)."""
    reference = DOC.read_text().split("## API reference", 1)[1]
    found: dict[str, list[str] | None] = {}
    for name, called, params in HEADING.findall(reference):
        parts = [p.strip() for p in params.split(",") if p.strip() not in ("", "*")]
        found[name] = [p.lstrip("*").split("=")[0] for p in parts] if called else None
    return found


def params_of(fn: Any, skip_self: bool) -> list[str]:
    names = list(inspect.signature(fn).parameters)
    return names[1:] if skip_self else names


def in_code() -> dict[str, list[str] | None]:
    ctx = StepContext(
        target=Target("t", "http://127.0.0.1:9"),
        run=RunInfo("j", "r", "0" * 32, 1, "manual"),
        api=httpx.AsyncClient(),
        cleanups=CleanupStack(),
    )
    members: dict[str, list[str] | None] = {
        f"ctx.{name}": None for name in vars(ctx) if not name.startswith("_")
    }
    for name, member in vars(StepContext).items():
        if name.startswith("_"):
            continue
        is_method = inspect.isfunction(member)
        members[f"ctx.{name}"] = params_of(member, True) if is_method else None
    for cls in KIT:
        members[cls.__name__] = None if cls is kit.Duration else params_of(cls, False)
        fields = (
            {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        )
        for name, member in vars(cls).items():
            if not name.startswith("_") and name not in fields and inspect.isfunction(member):
                members[f"{cls.__name__}.{name}"] = params_of(member, True)
    for fn in FUNCTIONS:
        members[fn.__name__] = params_of(fn, False)
    return members


def test_every_public_member_is_documented_and_nothing_documented_is_gone() -> None:
    docs, code = documented(), in_code()
    assert sorted(set(code) - set(docs)) == [], "undocumented"
    assert sorted(set(docs) - set(code)) == [], "documented but not in the code"


def test_each_documented_signature_names_the_parameters_the_code_takes() -> None:
    docs, code = documented(), in_code()
    wrong = {
        name: (docs[name], params)
        for name, params in code.items()
        if params is not None and docs.get(name) != params
    }
    assert wrong == {}
