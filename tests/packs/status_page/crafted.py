"""A journey for the status page tests: it fails with a message crafted to run script in the
page of whoever reads it, as a hostile error body could."""

from __future__ import annotations

from prober import Journey, StepContext

PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

crafted = Journey(
    "crafted", cuj="status_page_test", service="workflow-service", team="sre", channel="api",
    interval="2s", timeout="2s", retries=0,
)  # fmt: skip


@crafted.step("read the error body")
async def read_error_body(ctx: StepContext) -> None:
    ctx.fail(
        f"the platform said: {PAYLOAD} (login?password=hunter2-secret)", service="workflow-service"
    )
