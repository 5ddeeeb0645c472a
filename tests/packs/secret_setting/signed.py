"""A pack with a secret setting: refused when written in the config file."""

from prober import Journey, PackSettings, Setting, StepContext

SETTINGS = PackSettings(
    signing_key=Setting(str, None, "the key requests are signed with", secret=True)
)
signed = Journey("signed_api", cuj="signed", service="s", team="t", channel="api", timeout="5s",
                 settings=SETTINGS)  # fmt: skip


@signed.step("call")
async def call(ctx: StepContext) -> None:
    await ctx.api.get("/", headers={"x-signature": ctx.settings(SETTINGS).signing_key})
