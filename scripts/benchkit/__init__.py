"""The benchmarks behind `scripts/bench` (docs/performance.md): one module per sub-benchmark.

Each sub-benchmark is a function taking a `Bench` (mode, the source trees to measure, where
to write scratch files) and returning a JSON-able dict of raw numbers plus Markdown lines for
the report. Workers that drive a browser run in their own process, in their own cgroup when
the machine lets us create one, so their CPU counts Chromium's whole process tree.
"""
