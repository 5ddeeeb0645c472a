"""API journeys for scripts/fault_schedule.py: one per fault class and SLO target, so each SLO
sees one kind of fault and the alerts of one cannot be confused with another's. The
several-location schedule (scripts/fault_schedule_locations.yaml) adds a journey for the
one-run blips and one for the location-local faults (its dead locations stop every journey).

Each journey reads its own workflow (named after the journey, created by the script before
probing): a fault on the path `/api/workflows/<its id>` hits that journey only.
"""

from prober import Journey, StepContext


def _declare(name: str, target: float) -> Journey:
    journey = Journey(
        name,
        cuj="fidelity",
        service="workflow-service",
        team="sre",
        channel="api",
        interval="60s",
        timeout="30s",
        retries=1,
        latency_threshold="20s",
        slo_target=target,
        description="Read this journey's workflow over the API (fault-schedule probe).",
    )

    @journey.step("find workflow")
    async def find(ctx: StepContext) -> None:
        answer = await ctx.api.get("/api/workflows", params={"name_prefix": name})
        answer.raise_for_status()
        found = [w for w in answer.json()["workflows"] if w["name"] == name]
        if not found:
            ctx.fail(f"workflow {name} is missing; the script creates it")
        ctx.vars["id"] = found[0]["id"]

    @journey.step("read workflow")
    async def read(ctx: StepContext) -> None:
        answer = await ctx.api.get(f"/api/workflows/{ctx.vars['id']}")
        answer.raise_for_status()
        if not answer.json()["nodes"]:
            ctx.fail("the workflow came back without nodes")

    return journey


fidelity_hard_995 = _declare("fidelity_hard_995", 0.995)
fidelity_hard_99 = _declare("fidelity_hard_99", 0.99)
fidelity_partial_995 = _declare("fidelity_partial_995", 0.995)
fidelity_partial_99 = _declare("fidelity_partial_99", 0.99)
fidelity_latency_995 = _declare("fidelity_latency_995", 0.995)
fidelity_latency_99 = _declare("fidelity_latency_99", 0.99)
fidelity_blip_995 = _declare("fidelity_blip_995", 0.995)
fidelity_blip_99 = _declare("fidelity_blip_99", 0.99)
fidelity_oneblip_995 = _declare("fidelity_oneblip_995", 0.995)
fidelity_local_995 = _declare("fidelity_local_995", 0.995)
