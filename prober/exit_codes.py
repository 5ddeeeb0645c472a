"""The exit codes of every `prober` command, defined once (a light module: the CLI imports it
before it knows which command runs).

    0  every journey passed (or the command did its job)
    1  a journey failed (the target's fault), or a check found something (lint, audit, gate)
    2  usage or configuration error: nothing ran
    3  only the prober broke (probe_error), e.g. no browser
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PROBE_ERROR = 3
