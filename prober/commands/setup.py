"""What every journey command does first: read the config and the journeys it names."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from prober.catalog import Catalog, build_catalog
from prober.config import LoadedConfig, config_path, load_config


def prepare(
    config: Path | None, environ: Mapping[str, str] | None = None
) -> tuple[LoadedConfig, Catalog]:
    """ConfigError (every problem at once) when the config or a journey pack is wrong."""
    loaded = load_config(config_path(config, environ), environ)
    return loaded, build_catalog(loaded)


def configure_logging(level: int) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # `demo --serve` raises the level after its first run
    )
    # APScheduler logs every job start and finish at INFO: the run log lines already say more.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
