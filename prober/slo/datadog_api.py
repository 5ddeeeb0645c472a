"""Error budgets read from Datadog's SLO API through `datadog-api-client`, for `slo gate`.

Credentials and site come from the environment as the client reads them: `DD_API_KEY`,
`DD_APP_KEY`, `DD_SITE` (default datadoghq.com). `DD_HOST` (or `--datadog-url`) replaces the
whole base URL, e.g. a proxy or a test server; the exported Terraform root reads the same
variable. Each SLO is found by the name `slo export` gives it (`GET /api/v1/slo?query=NAME`,
exact match), and its SLI over the last 30 days and over each policy window comes from
`GET /api/v1/slo/{id}/history`. No retries: a gate that cannot read Datadog within the timeout
says so (exit 2) instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prober.journey import Journey
from prober.slo import spec
from prober.slo.gate import Budget, BudgetUnavailable
from prober.values import parse_duration

URL_VARIABLE = "DD_HOST"


def _reason(exc: Exception) -> str:
    from datadog_api_client.exceptions import ApiException

    if isinstance(exc, ApiException):
        hint = {
            401: "check DD_API_KEY",
            403: "check DD_APP_KEY and its slos_read scope",
            404: "check DD_SITE / DD_HOST",
        }.get(exc.status or 0, "")
        return f"Datadog answered {exc.status} {exc.reason}" + (f" ({hint})" if hint else "")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"Datadog could not be reached ({type(exc).__name__}: {text[:200]})"


class DatadogBudgets:
    """Budgets of exported SLOs in `env`, from Datadog. Construction checks the credentials."""

    def __init__(
        self,
        env: str,
        *,
        environ: Mapping[str, str],
        url: str | None,
        timeout_s: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        missing = [name for name in ("DD_API_KEY", "DD_APP_KEY") if not environ.get(name)]
        if missing:
            raise BudgetUnavailable(f"{' and '.join(missing)} not set: the gate cannot read "
                                    "Datadog's SLO API (or use --source store)")  # fmt: skip
        from datadog_api_client import ApiClient, Configuration
        from datadog_api_client.v1.api.service_level_objectives_api import (
            ServiceLevelObjectivesApi,
        )

        base = url or environ.get(URL_VARIABLE) or None
        config = Configuration(host=base, request_timeout=timeout_s)
        config.api_key["apiKeyAuth"] = environ["DD_API_KEY"]
        config.api_key["appKeyAuth"] = environ["DD_APP_KEY"]
        if base is None and environ.get("DD_SITE"):
            config.server_variables["site"] = environ["DD_SITE"]
        self._api = ServiceLevelObjectivesApi(ApiClient(config))
        self._env = env
        self._now = now

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # the client raises urllib3, socket and API errors alike
            raise BudgetUnavailable(f"{what}: {_reason(exc)}") from None

    def _slo_id(self, name: str) -> str:
        answer = self._call(f"looking up SLO {name}", lambda: self._api.list_slos(query=name))
        ids = [str(slo.id) for slo in answer.get("data", []) or [] if slo.name == name]
        if not ids:
            raise BudgetUnavailable(f"no SLO named {name} in Datadog; apply `prober slo export`")
        return ids[0]

    def _sli(self, slo_id: str, name: str, seconds: float) -> float | None:
        now = int(self._now())
        answer = self._call(
            f"reading the history of SLO {name}",
            lambda: self._api.get_slo_history(slo_id, from_ts=now - int(seconds), to_ts=now),
        )
        overall = answer.get("data", {}).get("overall")
        value = None if overall is None else overall.get("sli_value")
        return None if value is None else float(value)

    def budget(self, journey: Journey, slo_type: str, windows: Sequence[str]) -> Budget:
        name = spec.slo_name(journey.service, journey.name, self._env, slo_type)
        slo_id = self._slo_id(name)
        allowed = (1 - journey.slo_target) * 100  # error percent the target allows
        sli = self._sli(slo_id, name, parse_duration(spec.TIMEFRAME))
        if sli is None:
            raise BudgetUnavailable(f"SLO {name} has no data over {spec.TIMEFRAME} in Datadog")
        burn: dict[str, float | None] = {}
        for window in windows:
            value = self._sli(slo_id, name, parse_duration(window))
            burn[window] = None if value is None else (100 - value) / allowed
        return Budget(1 - (100 - sli) / allowed, burn)
