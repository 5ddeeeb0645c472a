# cuj-prober: `prober serve`, the continuous prober, with Debian's Chromium (not Playwright's:
# `playwright install` downloads a browser, which locked-down build machines cannot do).
#   docker build -t cuj-prober .
#   docker run -e PROBER_TARGETS__SANDBOX__BASE_URL=https://app.example \
#              -e SANDBOX_PASSWORD=... -e DD_AGENT_HOST=datadog-agent cuj-prober
# Mount your own prober.yaml and journeys at /app (or set PROBER_CONFIG) for your platform.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Chromium and fonts (a page without fonts renders differently from a customer's), and tini as
# PID 1 so Chromium's helper processes are reaped and SIGTERM reaches `prober serve`.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core tini \
    && rm -rf /var/lib/apt/lists/*
# DL3008 (pin apt versions) is ignored on purpose: bookworm's security pool drops superseded
# Chromium builds, so a pinned version stops building within weeks; the base tag pins the release.

WORKDIR /app
COPY pyproject.toml README.md ./
COPY prober ./prober
RUN pip install --no-cache-dir .
COPY prober.yaml ./
COPY journeys ./journeys

# A non-root user, so Chromium runs with its own sandbox (the prober adds --no-sandbox only as
# root). Results and artifacts live on a volume the user owns.
RUN useradd --create-home --uid 10001 prober \
    && mkdir -p /var/lib/prober \
    && chown prober:prober /var/lib/prober
USER 10001:10001
VOLUME ["/var/lib/prober"]

# Inside a container the pod's network is the boundary and kubelet probes the pod IP, so the
# health endpoints listen on all interfaces here (the default outside a container is loopback).
ENV PROBER_CONFIG=/app/prober.yaml \
    PROBER_STORE__PATH=/var/lib/prober/results.db \
    PROBER_ARTIFACTS__PATH=/var/lib/prober/artifacts \
    PROBER_SERVE__HOST=0.0.0.0 \
    PROBER_SERVE__PORT=8080

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["tini", "--", "prober"]
CMD ["serve"]
