"""The exit codes of every `prober` command, defined once (a light module: the CLI imports it
before it knows which command runs). README.md and docs/troubleshooting.md show this table;
tests/test_bad_input_cli.py checks that they agree with it.

    0    every journey passed (or the command did its job; the gate: go)
    1    a journey failed (the target's fault), or a check found something (lint, audit, gate stop)
    2    usage or configuration error: nothing ran (the gate: cannot decide)
    3    only the prober broke (probe_error), e.g. no browser
    4    internal error of the prober: a bug, reported as one line (the traceback with --debug)
    130  interrupted (Ctrl-C, SIGINT): what was cleaned up is printed
    141  stdout was closed early (`prober list --json | head -1`): output stopped quietly
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PROBE_ERROR = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report `yes | head`

# What each code means and what a CI job should do with it, in the order of the docs' table.
MEANINGS: dict[int, tuple[str, str]] = {
    EXIT_OK: ("passed; `slo gate`: go", "go on"),
    EXIT_FAILED: (
        "a journey failed; `slo lint`/`audit`: findings; `slo gate`: stop",
        "fail the job: the target (or the Terraform) needs a fix",
    ),
    EXIT_USAGE: (
        "usage or configuration error, nothing ran; `slo gate`: cannot decide",
        "fail the job and fix the command, config or data named on stderr",
    ),
    EXIT_PROBE_ERROR: (
        "only the prober broke (`probe_error`, e.g. no browser)",
        "do not blame the deploy: fix the prober's environment",
    ),
    EXIT_INTERNAL: (
        "internal error of the prober (a bug)",
        "do not blame the deploy: report it with the output of `prober --debug ...`",
    ),
    EXIT_INTERRUPTED: (
        "interrupted (Ctrl-C, SIGINT); stderr says what was cleaned up",
        "treat as cancelled",
    ),
    EXIT_BROKEN_PIPE: (
        "stdout closed early (its reader, e.g. `head`, stopped); output stopped quietly",
        "nothing: the reader wanted no more",
    ),
}
