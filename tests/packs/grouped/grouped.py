"""Two journeys that change shared state and so declare one exclusive group; each fails when
the other is in flight. GROUPED_PACK_GROUP="" drops the group (to prove the check bites);
GROUPED_PACK_HOLD_S is how long each holds the shared state."""

import asyncio
import os

from prober import Journey, StepContext

GROUP = os.environ.get("GROUPED_PACK_GROUP", "shared-flows") or None
HOLD_S = float(os.environ.get("GROUPED_PACK_HOLD_S", "0.3"))
IN_FLIGHT: set[str] = set()


def _journey(name: str) -> Journey:
    journey = Journey(
        name, cuj="grouped", service="workflow-service", team="test", channel="api",
        interval="60s", timeout="5s", retries=0, group=GROUP,
    )  # fmt: skip

    @journey.step("change shared state")
    async def change(ctx: StepContext) -> None:
        if IN_FLIGHT:
            ctx.fail(f"another run of the group was in flight: {sorted(IN_FLIGHT)}")
        IN_FLIGHT.add(name)
        try:
            await asyncio.sleep(HOLD_S)
        finally:
            IN_FLIGHT.discard(name)

    return journey


deploy_a = _journey("grouped_deploy_a")
deploy_b = _journey("grouped_deploy_b")
