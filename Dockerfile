# cuj-prober image, first version (the "Operating modes" issue finishes it: prober serve,
# HEALTHCHECK, hadolint). Debian's Chromium, because `playwright install` needs internet.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY prober ./prober
RUN pip install .

# A non-root user, so Chromium keeps its own sandbox.
RUN useradd --create-home --uid 10001 prober
USER prober

EXPOSE 8000
ENTRYPOINT ["prober"]
CMD ["sandbox", "--host", "0.0.0.0", "--port", "8000"]
