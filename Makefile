# The two commands of the README, plus the steps they are made of. Every target installs what it
# needs first, idempotently, so each works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test lint typecheck pytest browser nodered sandbox demo clean

test: lint typecheck pytest

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cuj-prober needs Python >= 3.11: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

browser: $(STAMP)
	PYTHON=$(BIN)/python scripts/install-browser

# Node-RED 4.1.8 for the journeys/nodered tests, installed with npm into .cache/nodered (once).
nodered: $(STAMP)
	PYTHON=$(BIN)/python scripts/nodered install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy prober tests

# pytest exits 5 when it collected nothing: that is a failure here, never a pass. Two workers
# (pytest-xdist), each test file on one of them with its own session fixtures (sandbox, Chromium,
# Node-RED): most tests wait on real servers and browsers, so two keep both cores busy.
pytest: $(STAMP) browser nodered
	@$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; exit $$rc

# The reference workflow platform on 127.0.0.1:8000 with the fault API enabled.
sandbox: $(STAMP)
	$(BIN)/prober sandbox --faults

# The story (~90 s): the reference platform probed on schedule through a hard outage and a
# silent failure, then the timeline, the metrics, SLO status and Terraform. PROBER_DEMO_QUICK=1
# (or `prober demo --quick`) tells it in ~30 s.
demo: $(STAMP) browser
	$(BIN)/prober demo

clean:
	rm -rf $(VENV) .prober .pytest_cache .mypy_cache .ruff_cache *.egg-info
