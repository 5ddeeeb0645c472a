"""The kit's implicit setup steps, which the runner adds before a journey's own.

`sign in (session)`: a browser journey on a target whose auth says how (`auth.browser`) starts
signed in with the API's session - the cookies the login set, its token in localStorage or a
cookie - with no second login per run and no login form on every canvas check. A journey
whose CUJ *is* signing in declares `session=False` and gets a clean browser.

`sweep leftovers`: the journey's declared Sweep removes what killed runs left behind and
reports how many it found (`cuj.prober.leftovers`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from prober.context import StepContext
from prober.drivers.browser import BrowserSession
from prober.drivers.http import TargetAuth
from prober.kit import Sweep
from prober.metrics import LEFTOVERS_FOUND, SWEEP_MAX_AGE_SETTING
from prober.values import parse_duration


def session_step(session: BrowserSession) -> Callable[[StepContext], Awaitable[None]]:
    async def sign_in(ctx: StepContext) -> None:
        api_auth = ctx.api.auth
        signed = await api_auth.session(ctx.api) if isinstance(api_auth, TargetAuth) else None
        if signed is None:
            return
        auth = ctx.target.auth
        if auth.browser_session_cookies and signed.cookies:
            # The login's own cookies: the browser holds the session the way the platform set it.
            await session.context.add_cookies(
                [{"name": n, "value": v, "url": ctx.target.base_url} for n, v in signed.cookies]
            )
        token = signed.token
        if token is None:
            return
        origins = sorted(ctx.target.origins)
        if auth.browser_local_storage:
            items = {
                key: value.replace("{token}", token) for key, value in auth.browser_local_storage
            }
            # Runs in every page before its own scripts, on the target's origins only.
            await session.context.add_init_script(
                "(() => { const origins = " + json.dumps(origins) + ";"
                " const here = location.protocol + '//' + location.hostname + ':' +"
                " (location.port || (location.protocol === 'https:' ? '443' : '80'));"
                " if (!origins.includes(here)) return;"
                " const items = " + json.dumps(items) + ";"
                " for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v); })()"
            )
        if auth.browser_cookie:
            await session.context.add_cookies(
                [{"name": auth.browser_cookie, "value": token, "url": ctx.target.base_url}]
            )

    return sign_in


def sweep_step(sweep: Sweep) -> Callable[[StepContext], Awaitable[None]]:
    async def sweep_leftovers(ctx: StepContext) -> None:
        ctx.annotate(LEFTOVERS_FOUND, await run_sweep(sweep, ctx))

    return sweep_leftovers


async def run_sweep(sweep: Sweep, ctx: StepContext, now: float | None = None) -> int:
    """Delete the stale leftovers `sweep` finds; returns how many it found."""
    max_age_s = None
    if SWEEP_MAX_AGE_SETTING in ctx.target.settings:
        max_age_s = parse_duration(ctx.target.settings[SWEEP_MAX_AGE_SETTING])
    found = await sweep.list(ctx)
    stale = sweep.stale(found, time.time() if now is None else now, max_age_s)
    for leftover in stale:
        await sweep.delete(ctx, leftover)
    return len(stale)
