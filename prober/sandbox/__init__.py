"""The reference workflow platform (`prober sandbox`).

A small real web app that stands in for the analytics platform so every journey, test and demo
has a real target. Four logical services share one process; each response names the
service that produced it in `x-service`, and the fault API (`--faults` only) makes any of them
fail loudly, slowly, or silently.
"""

from prober.sandbox.app import create_app
from prober.sandbox.settings import SandboxSettings

__all__ = ["SandboxSettings", "create_app"]
