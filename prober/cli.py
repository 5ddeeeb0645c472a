"""The `prober` command line: a thin edge turning arguments into calls and errors into exit codes.

Exit codes (prober/exit_codes.py): 0 all passed, 1 a journey failed, 2 usage or configuration
error, 3 only prober faults, 4 internal error, 130 interrupted, 141 stdout closed early.
"""

from __future__ import annotations

import argparse
import errno
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prober import __version__
from prober.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from prober.usage_error import UsageError


def _path(raw: str) -> Path:
    """A path flag: as written, but not empty or with space around it (`-c ""` would be the
    working folder, `--out " x"` a folder named with a space)."""
    if not raw.strip() or raw != raw.strip() or not raw.isprintable():
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a usable path (empty, space around it, or a control character)"
        )
    return Path(raw)


class _StoreOnce(argparse._StoreAction):
    """A value flag given twice with different values is a mistake (which one was meant?), not
    "the last one wins" in silence; the same value twice is harmless."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:  # fmt: skip
        given: dict[str, Any] = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given and given[self.dest] != values:
            parser.error(f"argument {'/'.join(self.option_strings)}: given twice "
                         f"({given[self.dest]!r}, then {values!r}); give it once")  # fmt: skip
        given[self.dest] = values
        super().__call__(parser, namespace, values, option_string)


def _once(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if type(action) is argparse._StoreAction and action.option_strings:
            action.__class__ = _StoreOnce
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _once(sub)


def _port(raw: str) -> int:
    from prober.values import parse_count

    try:
        return parse_count(raw, minimum=0, maximum=65535)
    except ValueError as exc:
        why = "is not a port number" if "whole number;" in str(exc) else "is outside 0-65535"
        raise argparse.ArgumentTypeError(f"{raw[:40]!r} {why} (0-65535; 0 picks a free port)"
                                         ) from None  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prober", description="Synthetic probes for Critical User Journeys."
    )
    parser.add_argument("--version", action="version", version=f"cuj-prober {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the reference workflow platform",
        description="Serve the reference workflow platform on loopback.",
    )
    sandbox.add_argument(
        "--host", default=None, help="address to bind (default 127.0.0.1; others only if given)"
    )
    sandbox.add_argument("--port", type=_port, default=8000, help="port (0 picks a free one)")
    sandbox.add_argument(
        "--faults", action="store_true", help="enable the fault-injection API at /_sandbox/faults"
    )
    sandbox.add_argument(
        "--db", type=_path, default=None, help="SQLite file (default .prober/sandbox.db)"
    )
    sandbox.add_argument(
        "--request-log",
        default="-",
        metavar="PATH",
        help="where request log lines go: a file, '-' for stdout (default), 'off'",
    )
    sandbox.add_argument("--seed", type=_seed, default=None, help="seed for fault `rate` rolls")
    sandbox.add_argument(
        "--upstream-timeout",
        type=_seconds,
        default=5.0,
        metavar="SEC",
        help="the engine's deadline for its calls to other services (default 5)",
    )

    _journey_commands(commands)

    listen = commands.add_parser(
        "dogstatsd-listen",
        help="print the DogStatsD datagrams that would reach an agent",
        description="Receive DogStatsD datagrams on loopback and print them decoded.",
    )
    listen.add_argument("--port", type=_port, default=8125, help="UDP port (default 8125)")
    listen.add_argument("--socket", type=_path, default=None, help="a unix datagram socket path")
    return parser


def _seed(raw: str) -> int:
    from prober.values import parse_count

    try:
        return parse_count(raw, minimum=0, maximum=2**32 - 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _every(raw: str) -> float:
    """run --every: a round at least every second (0 would mean back to back), at most a day."""
    from prober.values import DAY_S, parse_duration

    try:
        return parse_duration(raw, minimum=1.0, maximum=DAY_S)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(raw: str) -> float:
    """sandbox --upstream-timeout: seconds, more than nothing and at most an hour."""
    from prober.values import parse_duration

    try:
        return parse_duration(raw, minimum=0.001, maximum=3600.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MAX_REPEAT = 100_000  # rounds of `run --repeat`: days of probing at the shortest --every


def _positive(raw: str) -> int:
    from prober.values import parse_count

    try:
        return parse_count(raw, minimum=1, maximum=MAX_REPEAT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tag(raw: str) -> str:
    """--env, --location: a metric tag value, used as written or refused (never rewritten)."""
    from prober.values import check_tag

    try:
        return check_tag(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_HANDLE = re.compile(r"^@[A-Za-z0-9_.:/@+-]{1,200}$", re.ASCII)


def _handle(raw: str) -> str:
    """--notify-page/--notify-ticket: a Datadog notification handle, one word starting with @
    (a space or a line break would split the monitor's message); empty: none (the default)."""
    if raw and not _HANDLE.match(raw):
        raise argparse.ArgumentTypeError(
            f"{raw[:60]!r} is not a notification handle; write one word starting with @, e.g. "
            "@pagerduty-cuj or @slack-sre"
        )
    return raw


def _text(raw: str) -> str:
    """A name given on the command line (--target, --service): not empty, no space around it."""
    if not raw.strip() or raw != raw.strip() or not raw.isprintable():
        raise argparse.ArgumentTypeError(
            f"{raw[:60]!r} is empty, has space around it or a control character; give the "
            "name as configured"
        )
    return raw


def _retries(raw: str) -> int:
    from prober.journey import MAX_RETRIES
    from prober.values import parse_count

    try:
        return parse_count(raw, minimum=0, maximum=MAX_RETRIES)
    except ValueError as exc:
        shown = raw.strip()[:40] if "out of range" in str(exc) else repr(raw[:40])
        what = "is not in" if "out of range" in str(exc) else "is not a whole number in"
        raise argparse.ArgumentTypeError(f"{shown} {what} 0..{MAX_RETRIES}") from None


def _journey_commands(commands: Any) -> None:
    def command(name: str, help: str, *, journeys: bool, target: bool = True) -> Any:
        sub = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
        if journeys:
            sub.add_argument(
                "journeys", nargs="*", metavar="JOURNEY", help="names or globs (default: all)"
            )
        sub.add_argument(
            "-c", "--config", type=_path, default=None,
            help="config file (default: $PROBER_CONFIG, else ./prober.yaml)",
        )  # fmt: skip
        if target:
            sub.add_argument(
                "--target", type=_text, default=None, help="only this target (default: all)"
            )
            sub.add_argument(
                "--env", type=_tag, default=None, help="the env tag (default: the config's)"
            )
        return sub

    run = command("run", "run journeys now, with a live table (incidents)", journeys=True)
    run.add_argument("--repeat", type=_positive, default=None, metavar="N", help="rounds to run")
    run.add_argument(
        "--every", type=_every, default=None, metavar="SEC",
        help="start a round every SEC (with no --repeat: until Ctrl-C)",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="one JSON object per run, per line")
    run.add_argument(
        "--retries", type=_retries, default=0, metavar="N",
        help="retry a failed run up to N times (default 0: see the first failure at once)",
    )  # fmt: skip

    smoke = command("smoke", "run each journey once for CI after a deploy", journeys=True)
    smoke.add_argument("--junit", type=_path, default=None, metavar="PATH", help="JUnit XML file")

    serve = command("serve", "probe continuously on schedule (the container)", journeys=True)
    serve.add_argument(
        "--shard", default=None, metavar="I/N", help="only the journeys of shard I of N (0-based)"
    )
    listing = command("list", "list journeys, their service, channel, interval, SLO",
                      journeys=False, target=False)  # fmt: skip
    listing.add_argument("--json", action="store_true", help="one JSON object per journey")
    command("validate", "check the config and the journeys; report every problem",
            journeys=False, target=False)  # fmt: skip
    demo = command(
        "demo", "the reference platform, a hard outage and a silent failure, probed (~90 s)",
        journeys=True, target=False,
    )  # fmt: skip
    demo.add_argument(
        "--quick", action="store_true",
        help="three journeys at a 6 s interval, about 30 s (also PROBER_DEMO_QUICK=1), for CI",
    )  # fmt: skip
    new = commands.add_parser("new", help="write a skeleton to start from")
    kinds = new.add_subparsers(dest="new_kind", required=True, metavar="KIND")
    pack = kinds.add_parser(
        "pack", help="a journey pack: config, route map, one API and one browser journey"
    )
    pack.add_argument("name", help="the pack's name (lower case, digits, _)")
    pack.add_argument(
        "--dir", type=_path, default=Path("journeys"), help="where to write it (default: journeys)"
    )
    _slo_commands(commands)


def _slo_commands(commands: Any) -> None:
    slo = commands.add_parser(
        "slo", help="SLOs as code: export, lint, audit, local status, backtest, deploy gate"
    )
    actions = slo.add_subparsers(dest="slo_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="Datadog SLOs and monitors from the journeys",
        description="Metric-based SLOs, burn-rate, error-budget and heartbeat monitors.",
    )  # fmt: skip
    export.add_argument("--format", required=True, choices=["terraform", "datadog-json", "openslo"])
    export.add_argument(
        "--env", type=_tag, default=None, help="the env the SLOs cover (default: config's)"
    )
    export.add_argument("--out", type=_path, default=None, metavar="DIR", help="write files here")
    export.add_argument(
        "--location", action="append", type=_tag, default=[], metavar="NAME",
        help="a location with a heartbeat monitor (repeatable; default: the config's)",
    )  # fmt: skip
    export.add_argument(
        "--notify-page", type=_handle, default="", metavar="HANDLE", help="e.g. @pagerduty-cuj"
    )
    export.add_argument(
        "--notify-ticket", type=_handle, default="", metavar="HANDLE", help="e.g. @jira-sre"
    )
    export.add_argument(
        "--prober-team", type=_tag, default="sre", metavar="TEAM",
        help="the team tag of the heartbeat monitors, who own the prober (default: sre)",
    )  # fmt: skip
    export.add_argument(
        "--rules", type=_path, default=None, metavar="FILE",
        help="export this rule set (the backtest's --rules format, one entry) instead of the "
        "shipped rules, e.g. per-journey journey_down",
    )  # fmt: skip
    lint = actions.add_parser("lint", help="check Terraform against the naming conventions")
    lint.add_argument("dir", type=_path, metavar="DIR")
    audit = actions.add_parser(
        "audit", help="CI: Terraform vs the export; 0 in sync, 1 drift, 2 unreadable",
        description="Missing, orphaned and drifted CUJ resources in a Terraform tree, against "
        "what slo export writes for the configured journeys and env, and slo lint's "
        "conventions.",
    )  # fmt: skip
    audit.add_argument("dir", type=_path, metavar="DIR")
    audit.add_argument("--env", default=None, type=_tag, help="the env (default: the config's)")
    audit.add_argument(
        "--location", action="append", type=_tag, default=[], metavar="NAME",
        help="a location with a heartbeat monitor (repeatable; default: the config's)",
    )  # fmt: skip
    status = actions.add_parser("status", help="SLI, budget and burn rates from the local store")
    status.add_argument("--window", default="30d", help="SLI window (default 30d)")
    status.add_argument("--json", action="store_true", help="one JSON object per journey/target")
    status.add_argument("--env", default=None, type=_tag, help="the env (default: the config's)")
    status.add_argument(
        "--min-runs", type=_positive, default=None, metavar="N",
        help="fewer scheduled runs in the window show 'too few runs' (default 30)",
    )  # fmt: skip
    backtest = actions.add_parser(
        "backtest", help="replay stored runs through the exported alerts; score vs incidents",
        description="Which exported alerts would have fired and recovered over a period, "
        "evaluated like Datadog does; with --incidents, alignment, false positives and "
        "negatives, time to detect.",
    )  # fmt: skip
    backtest.add_argument("journeys", nargs="*", metavar="JOURNEY", help="names or globs")
    backtest.add_argument(
        "--from",
        dest="start",
        default=None,
        metavar="TIME",
        help="ISO 8601 or epoch seconds (default: --to minus --last)",
    )
    backtest.add_argument(
        "--to",
        dest="end",
        default=None,
        metavar="TIME",
        help="ISO 8601 or epoch seconds (default: now)",
    )
    backtest.add_argument(
        "--last",
        default=None,
        metavar="DURATION",
        help="the period's length without --from (default 7d)",
    )
    backtest.add_argument(
        "--incidents",
        type=_path,
        default=None,
        metavar="FILE",
        help="CSV or YAML: start, end, journey or service, label",
    )
    backtest.add_argument(
        "--rules",
        type=_path,
        default=None,
        metavar="FILE",
        help="YAML of alternative rules to score beside the shipped ones",
    )
    backtest.add_argument(
        "--time-scale",
        default="1",
        metavar="K",
        help="the runs were probed K times faster (scripts/fault_schedule.py)",
    )
    backtest.add_argument(
        "--grace",
        default="0s",
        metavar="DURATION",
        help="an alert this soon after an incident's end still matches it",
    )
    backtest.add_argument("--json", action="store_true", help="one JSON object per rule set")
    backtest.add_argument("--env", default=None, type=_tag, help="the env (default: the config's)")
    gate = actions.add_parser(
        "gate", help="CI: may a service deploy? 0 go, 1 stop, 2 cannot decide",
        description="Decide from the journeys' error-budget policies whether a deploy may go.",
    )  # fmt: skip
    gate.add_argument("journeys", nargs="*", metavar="JOURNEY", help="names or globs")
    gate.add_argument(
        "--service", type=_text, default=None, help="only the journeys this service owns"
    )
    gate.add_argument("--env", default=None, type=_tag, help="the env (default: the config's)")
    gate.add_argument(
        "--source",
        choices=["store", "datadog"],
        default="store",
        help="budgets from the local store or Datadog's SLO API "
        "(DD_API_KEY, DD_APP_KEY, DD_SITE; DD_HOST overrides the URL)",
    )
    gate.add_argument(
        "--datadog-url",
        default=None,
        metavar="URL",
        help="Datadog API base URL (default: $DD_HOST, else from DD_SITE)",
    )
    gate.add_argument(
        "--timeout", default="10s", metavar="DURATION", help="per Datadog request (default 10s)"
    )
    gate.add_argument(
        "--override",
        default=None,
        metavar="REASON",
        help="deploy anyway (a fix); the reason is printed with the decision",
    )
    gate.add_argument(
        "--min-runs", type=_positive, default=None, metavar="N",
        help="cannot decide on a journey with fewer scheduled runs in 30 days (default 30; "
        "--source store)",
    )  # fmt: skip
    for action in (export, audit, status, backtest, gate):
        action.add_argument(
            "-c", "--config", type=_path, default=None,
            help="config file (default: $PROBER_CONFIG, else ./prober.yaml)",
        )  # fmt: skip


# The bounds of the slo commands' value options (prober/values.py has the forms): a period
# or window is a minute to a year, a Datadog request waits at most 5 minutes, a replay is
# compressed at most 10000-fold.
MIN_WINDOW_S = 60.0
MAX_REQUEST_TIMEOUT_S = 300.0
MAX_TIME_SCALE = 10_000.0


def _slo_duration(
    option: str, raw: str, *, minimum: float = MIN_WINDOW_S, maximum: float | None = None
) -> float:
    """A duration option of the slo commands; SloError (one line, exit 2) when malformed or
    out of its bounds (`minimum` up to `maximum`, by default a year)."""
    from prober.slo.spec import SloError
    from prober.values import MAX_DURATION_S, parse_duration

    try:
        return parse_duration(raw, minimum=minimum, maximum=maximum or MAX_DURATION_S)
    except ValueError as exc:
        raise SloError(f"{option} {exc}") from None


def _slo_time(option: str, raw: str | None) -> float | None:
    from prober.slo.spec import SloError
    from prober.values import parse_time

    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise SloError(f"{option} {exc}") from None


def _bounded_period(start: float | None, end: float | None) -> None:
    """A backtest replays stored runs: a period longer than any stored history (366 days) is a
    typo in --from/--to (and its evaluation would grow with it)."""
    import time

    from prober.slo.spec import SloError
    from prober.values import MAX_DURATION_S

    if start is not None and (end if end is not None else time.time()) - start > MAX_DURATION_S:
        raise SloError("--from/--to: the period is longer than 366d; stored runs are kept "
                       "weeks (store.retention): give a shorter period")  # fmt: skip


def _slo(args: argparse.Namespace) -> int:
    from prober.commands import slo
    from prober.commands.setup import prepare
    from prober.slo.spec import SloError
    from prober.values import parse_number

    if args.slo_command == "lint":
        return slo.lint_command(args.dir)
    # Options first: a malformed one is a usage error before any config is read.
    if args.slo_command == "status":
        window_s = _slo_duration("--window", args.window)
    if args.slo_command == "backtest":
        if args.last is not None and args.start is not None:
            raise SloError("--last with --from: give the period as --from and --to, or as "
                           "--last (ending at --to, default now), not both")  # fmt: skip
        last_s = _slo_duration("--last", args.last or "7d")
        grace_s = _slo_duration("--grace", args.grace, minimum=0.0)
        start, end = _slo_time("--from", args.start), _slo_time("--to", args.end)
        _bounded_period(start, end)
        try:
            time_scale = parse_number(args.time_scale, minimum=1.0, maximum=MAX_TIME_SCALE)
        except ValueError as exc:
            raise SloError(f"--time-scale {exc}") from None
    if args.slo_command == "export" and len(set(args.location)) != len(args.location):
        raise SloError("--location: a location is given twice; give each once")
    if args.slo_command == "gate":
        _datadog_endpoint(args.datadog_url)
        timeout_s = _slo_duration("--timeout", args.timeout, minimum=0.001,
                                  maximum=MAX_REQUEST_TIMEOUT_S)  # fmt: skip
    loaded, catalog = prepare(args.config)
    if args.slo_command == "audit":
        return slo.audit_command(loaded, catalog, args.dir, env=args.env,
                                 locations=args.location)  # fmt: skip
    if args.slo_command == "export":
        if args.out is not None:
            from prober.paths import writable_folder

            writable_folder(args.out, "--out")  # PathError (exit 2) before anything is written
        return slo.export(
            loaded, catalog, fmt=args.format, env=args.env, out_dir=args.out,
            locations=args.location, notify_page=args.notify_page,
            notify_ticket=args.notify_ticket, prober_team=args.prober_team,
            rules_path=args.rules,
        )  # fmt: skip
    if args.slo_command == "backtest":
        return slo.backtest(
            loaded, catalog, patterns=args.journeys, env=args.env, start=start, end=end,
            last_s=last_s, incidents_path=args.incidents, rules_path=args.rules,
            time_scale=time_scale, grace_s=grace_s, as_json=args.json,
        )  # fmt: skip
    if args.slo_command == "gate":
        return slo.gate(
            loaded, catalog, patterns=args.journeys, service=args.service, env=args.env,
            source=args.source, override=args.override, datadog_url=args.datadog_url,
            timeout_s=timeout_s, min_runs=_min_runs(args),
        )  # fmt: skip
    return slo.status(loaded, catalog, window=args.window, window_s=window_s, env=args.env,
                      as_json=args.json, min_runs=_min_runs(args))  # fmt: skip


def _datadog_endpoint(url: str | None) -> None:
    """--datadog-url, DD_HOST and DD_SITE, checked before any request: SloError naming which."""
    import os

    from prober.slo.spec import SloError
    from prober.values import check_http_url

    for name, value in (("--datadog-url", url), ("DD_HOST", os.environ.get("DD_HOST") or None)):
        if value is None:
            continue
        # DD_HOST may be a bare host, as Datadog's clients take it.
        bare = name == "DD_HOST" and "://" not in value
        full = "https://" + value if bare else value
        try:
            check_http_url(full, origin=True)
        except ValueError as exc:
            raise SloError(f"{name}: {exc}") from None
    site = os.environ.get("DD_SITE") or None
    if site is not None and not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", site, re.ASCII):
        raise SloError(f"DD_SITE {site[:60]!r} is not a Datadog site; write e.g. datadoghq.com "
                       "or datadoghq.eu")  # fmt: skip


def _min_runs(args: argparse.Namespace) -> int:
    from prober.slo.gate import MIN_RUNS

    return MIN_RUNS if args.min_runs is None else int(args.min_runs)


def _probe(args: argparse.Namespace) -> int:
    """run / smoke / serve: config, journeys, plan; then the command."""
    import asyncio
    import logging

    from prober.catalog import Shard
    from prober.commands.setup import configure_logging, prepare

    configure_logging(logging.INFO if args.command == "serve" else logging.WARNING)
    shard = None
    if getattr(args, "shard", None) is not None:
        try:
            shard = Shard.parse(args.shard)
        except ValueError as exc:
            return _usage(f"--shard {exc}")
    loaded, catalog = prepare(args.config)
    plan = catalog.plan(args.journeys, target=args.target, shard=shard)
    # An empty shard is normal when replicas outnumber journeys: it serves its heartbeat.
    if not plan and shard is None:
        return _usage("nothing to run: no enabled journey matches on the selected target(s)")
    if args.command == "run":
        from prober.commands import probe

        # --every alone repeats until Ctrl-C; otherwise --repeat rounds (default one).
        rounds = args.repeat if args.repeat is not None else None if args.every else 1
        return asyncio.run(
            probe.run(loaded, plan, env=args.env, repeat=rounds, every_s=args.every or 0.0,
                      as_json=args.json, retries=args.retries)
        )  # fmt: skip
    if args.command == "smoke":
        from prober.commands import probe

        return asyncio.run(probe.smoke(loaded, plan, env=args.env, junit_path=args.junit))
    from prober.app import App
    from prober.commands.serve import serve  # the health server: starlette and uvicorn

    return asyncio.run(serve(App(loaded, env=args.env, log_stream=sys.stdout), plan, args.shard))


def _inspect(args: argparse.Namespace) -> int:
    from prober.commands.inspect import list_journeys, validate_summary
    from prober.commands.setup import prepare

    loaded, catalog = prepare(args.config)
    if args.command == "list":
        return list_journeys(catalog, as_json=args.json)
    print(validate_summary(loaded, catalog))
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    import logging
    import os

    from prober.commands import demo
    from prober.commands.setup import configure_logging

    configure_logging(logging.WARNING)
    quick = demo.quick_requested(args.quick, os.environ)
    return demo.run_demo(args.config, args.journeys, quick=quick)


def _new(args: argparse.Namespace) -> int:
    from prober.commands.new import NewPackError, new_pack

    try:
        written = new_pack(args.name, args.dir)
    except NewPackError as exc:
        return _usage(f"new pack: {exc}")
    except OSError as exc:  # nothing was written: new_pack writes a whole pack or none
        return _usage(f"new pack: {exc.filename or args.dir}: {exc.strerror or exc}; give --dir "
                      "a folder this user can write")  # fmt: skip
    folder = written[0].parent
    print(f"wrote {folder}/: " + ", ".join(p.name for p in written))
    print(f"next: export {args.name.upper()}_PASSWORD=...; prober validate -c {folder}/prober.yaml")
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"prober: {message}", file=sys.stderr)
    return EXIT_USAGE


def _listen(args: argparse.Namespace) -> int:
    from prober.listen import run

    return run(args.port, args.socket)


def _sandbox(args: argparse.Namespace) -> int:
    from prober.sandbox.server import ServeError, serve
    from prober.sandbox.settings import DEFAULT_DB, SandboxSettings

    if args.request_log not in ("-", "off"):
        from prober.paths import writable_file

        writable_file(Path(args.request_log), "--request-log")  # before the database is made
    settings = SandboxSettings(
        db_path=args.db or DEFAULT_DB,
        faults_enabled=args.faults,
        request_log=None if args.request_log == "off" else args.request_log,
        seed=args.seed,
        upstream_timeout_s=args.upstream_timeout,
    )
    try:
        serve(settings, args.host or "127.0.0.1", args.port, host_explicit=args.host is not None)
    except ServeError as exc:
        print(f"prober sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


# Where an internal error is to be reported (the one line an unexpected exception becomes).
REPORT_TO = "https://github.com/<org>/cuj-prober/issues"

# What a Ctrl-C leaves behind, per command; commands not named wrote nothing yet.
_INTERRUPTED = {
    "run": "runs in flight were cancelled after their cleanups ran; finished runs are saved",
    "smoke": "runs in flight were cancelled after their cleanups ran; no JUnit report written",
    "new": "nothing was written (a pack is written whole or not at all)",
}


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code of `prober ARGV` (prober/exit_codes.py). Nothing leaves as a traceback:
    a usage error is its message (2), Ctrl-C one line (130), a closed stdout nothing (141), and
    anything else one line saying where to report it (4; the traceback with --debug or
    PROBER_DEBUG=1)."""
    import os

    if sys.stdout is None:  # started with stdout closed (`prober list >&-`)
        print("prober: stdout is closed; run the command with stdout open (e.g. > out.txt or "
              "> /dev/null)", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    parser = _parser()
    _add_debug(parser)
    _once(parser)
    for raw in sys.argv[1:] if argv is None else argv:
        if "\x00" in raw:  # only an in-process caller can pass one; no path or name holds it
            return _usage(f"argument {raw!r} contains a NUL byte; remove it")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = args.debug or os.environ.get("PROBER_DEBUG", "") not in ("", "0")
    handlers = {
        "sandbox": _sandbox,
        "dogstatsd-listen": _listen,
        "run": _probe,
        "smoke": _probe,
        "serve": _probe,
        "list": _inspect,
        "validate": _inspect,
        "demo": _demo,
        "new": _new,
        "slo": _slo,
    }
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()  # here, not at exit: a reader that left early is a BrokenPipeError
        return code
    except UsageError as exc:
        exc.report(sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print(_interrupted(args.command, exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.filename is None and exc.errno in _FULL:
            return _disk_full(exc)
        if exc.filename is None:
            return _internal(exc, debug)
        # A file or folder the user named (or the config did) cannot be used.
        print(f"prober: {exc.filename}: {exc.strerror or exc}; check the path and its "
              "permissions, or give another", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except Exception as exc:
        leaf = _only_leaf(exc)  # a TaskGroup wraps what one task raised
        if isinstance(leaf, BrokenPipeError):
            _drop_stdout()
            return EXIT_BROKEN_PIPE
        if isinstance(leaf, OSError) and leaf.filename is None and leaf.errno in _FULL:
            return _disk_full(leaf)
        if isinstance(leaf, UsageError):
            leaf.report(sys.stderr)
            return EXIT_USAGE
        return _internal(exc, debug)


# A write that failed for want of room (stdout on a full disk or /dev/full, a store on one): the
# environment's doing, not a bug.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _disk_full(exc: OSError) -> int:
    _drop_stdout()
    print(f"prober: cannot write: {exc.strerror or exc} (stdout, or a file the command writes); "
          "free space, or send stdout somewhere else", file=sys.stderr)  # fmt: skip
    return EXIT_USAGE


def _only_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _add_debug(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """--debug before or after the command: `prober --debug run` and `prober run --debug`."""
    parser.add_argument(
        "--debug", action="store_true", default=False if top else argparse.SUPPRESS,
        help="on an internal error, print the traceback (also PROBER_DEBUG=1)",
    )  # fmt: skip
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_debug(sub, top=False)


def _interrupted(command: str, exc: KeyboardInterrupt) -> str:
    from prober.errors import JourneyImportInterrupted

    if isinstance(exc, JourneyImportInterrupted):
        return (f"prober {command}: interrupted while importing {exc.source}; nothing ran. If "
                "you did not press Ctrl-C, that module raises KeyboardInterrupt when imported: "
                "remove it")  # fmt: skip
    left = _INTERRUPTED.get(command, "nothing was written")
    return f"prober {command}: interrupted (Ctrl-C); {left}"


def _drop_stdout() -> None:
    """The reader of stdout left (`| head -1`): point stdout at /dev/null so the interpreter's
    final flush does not fail again (the recipe in Python's `signal` documentation)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured in tests)
        pass


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    print(f"prober: internal error: {type(exc).__name__}: {first}. This is a bug in the prober, "
          f"not in the target: report it at {REPORT_TO} with the output of the same command "
          "with --debug" + ("" if debug else " (which prints the traceback)"),
          file=sys.stderr)  # fmt: skip
    return EXIT_INTERNAL
