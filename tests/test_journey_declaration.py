"""Declaring journeys, and loading packs where some modules are broken."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from prober import Journey, StepContext, loader
from prober.errors import JourneyDefinitionError
from prober.loader import load_packs

BASE: dict[str, Any] = {
    "cuj": "workflow_run",
    "service": "orchestration-engine",
    "team": "orchestration",
    "channel": "api",
}


async def noop(ctx: StepContext) -> None:
    return None


def test_a_valid_declaration_keeps_every_field() -> None:
    journey = Journey(
        "workflow_run_api", **BASE, interval="2m", timeout="45s", retries=2,
        latency_threshold="10s", slo_target=0.999, runbook="https://runbooks/x",
        description="Runs a workflow through the API.",
    )  # fmt: skip
    journey.step("start run")(noop)
    journey.step("wait", service="optimizer-service", timeout="20s")(noop)
    assert (journey.interval_s, journey.timeout_s, journey.latency_threshold_s) == (120, 45, 10)
    assert [(s.name, s.service, s.timeout_s) for s in journey.steps] == [
        ("start run", "orchestration-engine", None),
        ("wait", "optimizer-service", 20.0),
    ]
    assert journey.source == __file__


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"interval": "10s", "timeout": "30s"}, "interval"),
        ({"timeout": "soon"}, "timeout"),
        ({"retries": 9}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"latency_threshold": "40s", "timeout": "30s"}, "latency_threshold"),
        ({"slo_target": 1.0}, "slo_target"),
        ({"service": "Workflow Service"}, "service"),
        ({"cuj": "Bad-Name"}, "cuj"),
    ],
)
def test_invalid_declarations_name_the_file_and_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(JourneyDefinitionError) as raised:
        Journey("bad_journey", **{**BASE, **overrides})
    message = str(raised.value)
    assert message.startswith(f"{__file__}: journey 'bad_journey': {field}:")


def test_duplicate_and_sync_steps_are_refused() -> None:
    journey = Journey("steps", **BASE)
    journey.step("one")(noop)
    with pytest.raises(JourneyDefinitionError, match="step 'one': is declared twice"):
        journey.step("one")(noop)
    with pytest.raises(JourneyDefinitionError, match="is not an async def"):
        journey.add_step("sync", lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(JourneyDefinitionError, match="at most the journey's"):
        journey.step("slow", timeout="5m")(noop)


GOOD = """
from prober import Journey, StepContext

good = Journey("good_one", cuj="c", service="s", team="t", channel="api")

@good.step("only")
async def only(ctx: StepContext) -> None:
    pass
"""


def write_pack(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_broken_modules_are_reported_and_the_rest_load(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path / "pack",
        {
            "a_good.py": GOOD,
            "b_syntax.py": "def broken(:\n",
            "c_raises.py": "raise RuntimeError('database not reachable at import')\n",
            "d_invalid.py": GOOD.replace('"good_one"', '"bad"').replace('"api"', '"fax"'),
            "e_duplicate.py": GOOD,
            "f_empty.py": GOOD.split("@good", maxsplit=1)[0].replace('"good_one"', '"no_steps"'),
            "_helper.py": "raise SystemExit('helpers are not journeys')\n",
        },
    )
    report = load_packs([pack, tmp_path / "missing"])
    assert [j.name for j in report.journeys] == ["good_one"]
    problems = {Path(p.source).name: str(p) for p in report.problems}
    assert set(problems) == {
        "b_syntax.py", "c_raises.py", "d_invalid.py", "e_duplicate.py", "f_empty.py", "missing",
    }  # fmt: skip
    assert "line 1: syntax error" in problems["b_syntax.py"]
    assert "RuntimeError: database not reachable" in problems["c_raises.py"]
    assert "channel: 'fax' is not one of" in problems["d_invalid.py"]
    assert "also declared in" in problems["e_duplicate.py"]
    assert "a_good.py" in problems["e_duplicate.py"]
    assert "declares no steps" in problems["f_empty.py"]
    assert "journey pack not found" in problems["missing"]


def test_relative_pack_paths_resolve_against_the_base(tmp_path: Path) -> None:
    write_pack(tmp_path / "journeys" / "mine", {"j.py": GOOD})
    report = load_packs(["journeys/mine"], base=tmp_path)
    assert [j.name for j in report.journeys] == ["good_one"]
    assert report.problems == ()


def test_a_module_that_never_finishes_importing_is_reported_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deadline is shortened (the shipped 30 s would make this test 60 s long): what is
    # judged is that the import is interrupted and reported, whatever the module catches.
    monkeypatch.setattr(loader, "IMPORT_TIMEOUT_S", 0.5)
    pack = write_pack(
        tmp_path / "pack",
        {
            "a_good.py": GOOD,
            "b_spins.py": "while True:\n    pass\n",
            "c_swallows.py": "import time\nwhile True:\n    try:\n        time.sleep(5)\n"
            "    except Exception:\n        pass\n",
        },
    )
    before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    report = load_packs([pack])
    assert time.monotonic() - started < 10
    assert [j.name for j in report.journeys] == ["good_one"]
    problems = {Path(p.source).name: str(p) for p in report.problems}
    assert set(problems) == {"b_spins.py", "c_swallows.py"}
    assert all("import did not finish within 0.5s" in text for text in problems.values())
    assert signal.getsignal(signal.SIGALRM) == before  # the handler and timer are put back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
