"""The status page of `prober serve` (`/`): what on-call sees, without a Datadog account.

Every journey x target of this process: its state and since when, its last runs as a strip
(status, duration, within SLO), its last failure's verdict (error type, failed step and service,
where the blame came from, message, evidence, trace id with its APM link) with the screenshot
shown and the trace, console and network logs to download, the next run, skipped runs and the
maintenance window in force; above them, the scheduler and its heartbeat.

Everything on it comes from the platform or from journey code, so it is all text: every value
goes through `html.escape`, and the page is served with a Content-Security-Policy that runs no
script at all (SECURITY_HEADERS). It refreshes itself with a meta refresh. What it shows are the
stored results, which the runner redacted before they were stored (prober/redact.py).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prober import __version__
from prober.artifacts import ArtifactStore
from prober.reports.console import why_blamed
from prober.result import BlameSource
from prober.store import ResultStore, StoredRun
from prober.trace_links import trace_url

RECENT_RUNS = 20
REFRESH_S = 10
ARTIFACTS_PATH = "/artifacts/"
SECURITY_HEADERS: Mapping[str, str] = {
    # No script, no frames, no forms, nothing from elsewhere: styles are inline, images ours.
    "content-security-policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_RANK = {"failure": 0, "probe_error": 1, None: 2, "success": 3}


@dataclass(frozen=True, slots=True)
class JobView:
    journey: str
    target: str
    channel: str
    interval_s: float
    state: str | None  # the last run's status; None before the first run
    since: float | None
    next_run: datetime | None
    recent: tuple[StoredRun, ...]
    last_failure: Mapping[str, Any] | None  # the stored result JSON (redacted when stored)
    skipped: Mapping[str, int]
    maintenance: str | None  # the window in force, described


@dataclass(frozen=True, slots=True)
class PageView:
    env: str
    location: str
    scheduler_running: bool
    runs: int
    skipped: Mapping[str, int]
    last_heartbeat: float | None
    now: float
    site: str | None
    jobs: tuple[JobView, ...]


def job_view(
    store: ResultStore,
    *,
    journey: str,
    target: str,
    channel: str,
    interval_s: float,
    next_run: datetime | None,
    skipped: Mapping[str, int],
    maintenance: str | None,
) -> JobView:
    """One journey x target from the store (blocking: serve calls it in a worker thread)."""
    recent = tuple(store.recent(journey, target, RECENT_RUNS))
    state = recent[-1].status if recent else None
    failed = store.last_failure(journey, target)
    return JobView(
        journey=journey,
        target=target,
        channel=channel,
        interval_s=interval_s,
        state=state,
        since=None if state is None else store.state_since(journey, target, state),
        next_run=next_run,
        recent=recent,
        last_failure=None if failed is None else store.result(failed.run_id),
        skipped=skipped,
        maintenance=maintenance,
    )


# --- rendering ----------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({_ago(now - at)})"


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _run(run: StoredRun) -> str:
    slo = "within SLO" if run.within_slo else "outside SLO"
    title = (
        f"{run.status}{'' if run.error_type is None else f' ({run.error_type})'}, "
        f"{run.duration_s:.2f}s, {slo}, "
        f"{datetime.fromtimestamp(run.started_at, UTC).strftime('%H:%M:%S')} UTC"
    )
    slow = "" if run.within_slo or run.status != "success" else " slow"
    return (
        f'<li class="run {_e(run.status)}{slow}" title="{_e(title)}" data-testid="run" '
        f'data-status="{_e(run.status)}" data-within-slo="{str(run.within_slo).lower()}">'
        f"{run.duration_s:.1f}s</li>"
    )


def _artifact_links(paths: list[str], artifacts: ArtifactStore) -> str:
    shots, files = [], []
    for path in paths:
        relative = artifacts.relative(path)
        if relative is None:
            continue
        href = _e(ARTIFACTS_PATH + quote(relative))
        name = _e(relative.rsplit("/", 1)[-1])
        if relative.endswith(".png"):
            shots.append(
                f'<figure><a href="{href}"><img src="{href}" alt="screenshot {name}" '
                f'data-testid="screenshot" loading="lazy"></a><figcaption>{name}</figcaption>'
                "</figure>"
            )
        else:
            files.append(f'<li><a href="{href}" download data-testid="artifact">{name}</a></li>')
    listed = f'<ul class="files">{"".join(files)}</ul>' if files else ""
    return "".join(shots) + listed


def _failure(result: Mapping[str, Any], page: PageView, artifacts: ArtifactStore) -> str:
    trace_id = str(result.get("trace_id") or "")
    link = trace_url(page.site, trace_id)
    trace = _e(trace_id)
    if link is not None:
        trace = (
            f'<a href="{_e(link)}" target="_blank" rel="noopener noreferrer" '
            f'data-testid="trace-link">{trace}</a>'
        )
    source = result.get("blame_source")
    why = why_blamed(BlameSource(source)) if source in set(BlameSource) else str(source)
    rows = [
        ("when", _e(_when(_number(result.get("started_at")), page.now))),
        ("error type", _e(result.get("error_type"))),
        ("failed step", _e(result.get("failed_step"))),
        ("blame", f"<strong>{_e(result.get('failed_service'))}</strong> ({_e(why)})"),
        ("message", f'<span data-testid="failure-message">{_e(result.get("error"))}</span>'),
    ]
    if result.get("evidence"):
        rows.append(("evidence", _e(result["evidence"])))
    if result.get("locations"):
        where = _e(result["locations"])
        rows.append(("locations", f'<span data-testid="locations">{where}</span>'))
    rows += [("trace id", trace), ("run", _e(result.get("run_id")))]
    listed = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    paths = [str(p) for p in result.get("artifacts") or []]
    return (
        f'<div class="last-failure" data-testid="last-failure"><h3>Last failure</h3>'
        f"<dl>{listed}</dl>{_artifact_links(paths, artifacts)}</div>"
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _job(job: JobView, page: PageView, artifacts: ArtifactStore) -> str:
    state = job.state or "no runs yet"
    since = "" if job.since is None else f" since {_when(job.since, page.now)}"
    skipped = ", ".join(f"{n} {reason}" for reason, n in job.skipped.items() if n) or "none"
    next_run = "not scheduled" if job.next_run is None else _when(job.next_run.timestamp(),
                                                                   page.now)  # fmt: skip
    facts = [
        ("next run", _e(next_run)),
        ("every", _e(f"{job.interval_s:g}s")),
        ("skipped", _e(skipped)),
    ]
    if job.maintenance is not None:
        facts.append(("maintenance", f'<span class="maint">{_e(job.maintenance)}</span>'))
    listed = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    strip = "".join(_run(run) for run in job.recent) or "<li>no runs yet</li>"
    failure = "" if job.last_failure is None else _failure(job.last_failure, page, artifacts)
    return (
        f'<section class="job {_e(job.state or "none")}" data-testid="job" '
        f'data-journey="{_e(job.journey)}" data-target="{_e(job.target)}" '
        f'data-state="{_e(job.state or "")}">'
        f"<h2>{_e(job.journey)} <small>on {_e(job.target)} · {_e(job.channel)}</small></h2>"
        f'<p class="state"><span class="badge" data-testid="state">{_e(state)}</span>'
        f"{_e(since)}</p>"
        f'<ol class="strip" aria-label="last runs, oldest first">{strip}</ol>'
        f"<dl>{listed}</dl>{failure}</section>"
    )


def render(page: PageView, artifacts: ArtifactStore) -> str:
    """The whole page: self-contained HTML, every value escaped."""
    jobs = sorted(page.jobs, key=lambda j: (_RANK.get(j.state, 2), j.journey, j.target))
    failing = sum(j.state in ("failure", "probe_error") for j in page.jobs)
    title = f"{failing} failing" if failing else "all passing"
    beat = _when(page.last_heartbeat, page.now)
    skipped = ", ".join(f"{n} {reason}" for reason, n in page.skipped.items() if n) or "none"
    scheduler = "running" if page.scheduler_running else "NOT running"
    body = "".join(_job(job, page, artifacts) for job in jobs) or "<p>No journeys scheduled.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>{_e(title)} · cuj-prober {_e(page.env)}/{_e(page.location)}</title>
<style>{_CSS}</style></head>
<body><header><h1>cuj-prober <small>{_e(page.env)} · {_e(page.location)}</small></h1>
<p class="summary" data-testid="summary"><strong>{_e(title)}</strong> · scheduler {scheduler}
· heartbeat <span data-testid="heartbeat">{_e(beat)}</span> · {page.runs} runs · skipped
{_e(skipped)} · v{_e(__version__)} · refreshes every {REFRESH_S}s</p></header>
<main>{body}</main>
<footer>{_e(datetime.fromtimestamp(page.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))} ·
<a href="/status">/status</a> (JSON)</footer></body></html>
"""


_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--probe:#8250df;--fg:#1f2328;--mute:#59636e;
--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;font-family:system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0 auto;max-width:72rem;padding:.75rem}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.1rem;margin:0;word-break:break-all}
h3{font-size:1rem;margin:.6rem 0 .3rem}small{color:var(--mute);font-weight:normal}
.summary,footer{color:var(--mute);font-size:.9rem}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,30rem),1fr));gap:.75rem;
align-items:start}
.job{background:var(--card);border:1px solid var(--line);border-left:.4rem solid var(--mute);
border-radius:.4rem;padding:.6rem .8rem;min-width:0}
.job.success{border-left-color:var(--ok)}.job.failure{border-left-color:var(--bad)}
.job.probe_error{border-left-color:var(--probe)}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:var(--mute);
color:#fff;font-weight:600;margin-right:.3rem}
.success .badge{background:var(--ok)}.failure .badge{background:var(--bad)}
.probe_error .badge{background:var(--probe)}
.strip{display:flex;flex-wrap:wrap;gap:2px;list-style:none;padding:0;margin:.4rem 0}
.run{font-size:.7rem;padding:.15rem .2rem;border-radius:.2rem;color:#fff;background:var(--mute)}
.run.success{background:var(--ok)}.run.failure{background:var(--bad)}
.run.probe_error{background:var(--probe)}.run.slow{background:var(--warn)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .6rem;margin:.3rem 0;
font-size:.9rem}dt{color:var(--mute)}dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
.last-failure{border-top:1px solid var(--line);margin-top:.4rem}
.maint{color:var(--warn);font-weight:600}
figure{margin:.4rem 0}img{max-width:100%;height:auto;border:1px solid var(--line)}
figcaption{font-size:.75rem;color:var(--mute)}
.files{margin:.2rem 0;padding-left:1.2rem;font-size:.9rem}
@media (max-width:40rem){dl{grid-template-columns:1fr}dt{margin-top:.3rem}}
"""
