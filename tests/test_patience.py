"""A customer's patience (how long a wait lasts before the state counts as stuck) must fit the
journey's timeout, or a stuck state can only ever be reported as the step's timeout: `validate`
refuses a patience setting that cannot run out first, the journey declaration refuses a `waits=`
naming anything but a patience setting, and a wait that cannot reach its cap says so once."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from prober import Duration, Journey, PackSettings, Setting
from prober.cli import main
from prober.context import CleanupStack, RunInfo, StepContext
from prober.errors import GaveUp, JourneyDefinitionError
from prober.kit import patience_headroom_s
from tests.loop_thread import LoopThread
from tests.targets import ROOT, sandbox_target

PATIENCE = PackSettings(run_max_wait=Setting(Duration, "10s", "a run's patience", patience=True))


def _validate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, wait: str
) -> tuple[int, str]:
    monkeypatch.setenv("SANDBOX_PASSWORD", "x")
    monkeypatch.setenv("PROBER_TARGETS__SANDBOX__SETTINGS__RUN_MAX_WAIT", wait)
    code = main(["validate", "-c", str(ROOT / "prober.yaml")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_shipped_patience_fits_and_a_longer_one_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said = _validate(capsys, monkeypatch, "10s")
    assert code == 0, said
    # The run journeys' timeout is 20 s: a quarter of it is left for the steps before the wait.
    assert patience_headroom_s(20.0) == 5.0
    code, said = _validate(capsys, monkeypatch, "20s")
    assert code == 2, said
    assert "PROBER_TARGETS__SANDBOX__SETTINGS__RUN_MAX_WAIT" in said
    for journey in ("workflow_run_api", "workflow_run_browser"):
        assert f"journey {journey!r}: run_max_wait: 20s of patience" in said
    assert "Set it to at most 15s" in said
    # Journeys that do not wait with it are not judged by it.
    assert "workflow_canvas_load" not in said


def test_waits_must_name_a_patience_setting() -> None:
    common: dict[str, Any] = {"cuj": "c", "service": "s", "team": "t", "channel": "api"}
    Journey("fine", settings=PATIENCE, waits=("run_max_wait",), **common)
    plain = PackSettings(run_max_wait=Setting(Duration, "10s", "not declared a patience"))
    with pytest.raises(JourneyDefinitionError, match="waits"):
        Journey("plain", settings=plain, waits=("run_max_wait",), **common)
    with pytest.raises(JourneyDefinitionError, match="waits"):
        Journey("unknown", settings=PATIENCE, waits=("run_max_wiat",), **common)
    with pytest.raises(JourneyDefinitionError, match="patience"):
        Setting(str, "x", "a text cannot be a patience", patience=True)


def test_a_wait_whose_patience_the_step_cannot_give_warns_once(
    loop: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[str]:
        async with httpx.AsyncClient() as api:
            ctx = StepContext(
                target=sandbox_target("http://127.0.0.1:9"),
                run=RunInfo("impatient_journey", "r1", "t" * 32, 1, "manual"),
                api=api,
                cleanups=CleanupStack(),
            )
            # No deadline (the wait runs to its cap), but a step limit that cannot give it.
            ctx.step_limit_s = 1.5
            messages = []
            for _ in range(2):

                async def never() -> bool:
                    return False

                with pytest.raises(GaveUp) as gave_up:
                    await ctx.poll("the state", never, cap_s=0.8, interval_s=0.05)
                messages.append(str(gave_up.value))
            return messages

    with caplog.at_level(logging.WARNING, logger="prober.context"):
        messages = loop.run(scenario())
    warned = [r.getMessage() for r in caplog.records if "impatient_journey" in r.getMessage()]
    assert len(warned) == 1, warned  # once per journey and wait, not per run
    assert "patience of 0.8s" in warned[0] and "at most 0.5s" in warned[0]
    assert all("gave up waiting for the state after" in m for m in messages)
