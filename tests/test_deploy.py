"""deploy/kubernetes: the manifests are valid Kubernetes objects (kubernetes-validate, against a
pinned version), they agree with the image and the config they mount, the config passes
`prober validate`, and the StatefulSet's shards split the journeys exactly."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from prober.catalog import Shard
from prober.cli import _parser
from prober.commands.setup import prepare
from prober.sinks.dogstatsd import resolve_destination
from tests.prober_cli import ROOT, prober
from tests.test_dockerfile import DOCKERFILE, image_env

KUBERNETES_VERSION = "1.31.0"  # the oldest minor the manifests promise to work on (pod-index)
DEPLOY = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.parent for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _objects() -> list[tuple[Path, dict[str, Any]]]:
    """Every full Kubernetes object in the tree (not kustomizations, patches or prober.yaml)."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        if path.name == "prober.yaml" or "overlays" in path.parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            full = isinstance(doc, dict) and "kind" in doc and "$patch" not in doc
            if full and doc["kind"] not in ("Kustomization", "Component"):
                found.append((path, doc))
    return found


def _render(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed: overlays not rendered")
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


DEPLOYMENT = _load(DEPLOY / "base" / "deployment.yaml")
STATEFULSET = _load(DEPLOY / "sharded" / "statefulset.yaml")


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(workload: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in _container(workload)["env"]}


def _mounts(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in _container(workload)["volumeMounts"]}


def _volumes(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}


@pytest.mark.parametrize("path_and_doc", _objects(), ids=lambda p: f"{p[0].name}:{p[1]['kind']}")
def test_every_manifest_validates(path_and_doc: tuple[Path, dict[str, Any]]) -> None:
    _, doc = path_and_doc
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_overlay_renders_to_valid_objects_for_its_location(overlay: Path) -> None:
    rendered = _render(overlay)
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    workloads = [d for d in rendered if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) == 1, [d["kind"] for d in rendered]
    assert _env(workloads[0])["PROBER_LOCATION"]["value"] == overlay.name


def test_the_mounted_config_passes_validate(tmp_path: Path) -> None:
    """The ConfigMap's prober.yaml as the pod sees it: at the image's PROBER_CONFIG, beside the
    bundled pack and the Secret's folder, with the Deployment's and the image's environment."""
    image = image_env()
    mounts = _mounts(DEPLOYMENT)
    config_at = Path(image["PROBER_CONFIG"])
    assert mounts[str(config_at)]["subPath"] == "prober.yaml"
    assert "COPY journeys ./journeys" in DOCKERFILE and "WORKDIR /app" in DOCKERFILE
    app = tmp_path / "app"  # /app: the config, journeys/ from the image, secrets/ from the Secret
    app.mkdir()
    shutil.copy(DEPLOY / "base" / "prober.yaml", app / "prober.yaml")
    (app / "journeys").symlink_to(ROOT / "journeys")
    secrets = mounts[str(config_at.parent / "secrets")]
    assert _volumes(DEPLOYMENT)[secrets["name"]]["secret"]["secretName"] == "prober-credentials"
    (app / "secrets").mkdir()
    (app / "secrets" / "password").write_text("from-the-secret\n")
    env = {name: item["value"] for name, item in _env(DEPLOYMENT).items() if "value" in item}
    env.update(image)
    env.update(
        PROBER_CONFIG=str(app / "prober.yaml"),
        PROBER_STORE__PATH=str(tmp_path / "results.db"),
        PROBER_ARTIFACTS__PATH=str(tmp_path / "artifacts"),
        PATH="/usr/bin:/bin",
    )
    done = prober("validate", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "5 journeys" in done.stdout
    loaded, _ = prepare(None, env)
    assert loaded.config.location == env["PROBER_LOCATION"]
    password = loaded.config.targets["platform"].password
    assert password is not None and password.get_secret_value() == "from-the-secret"


def test_the_deployment_matches_the_image() -> None:
    image = image_env()
    container = _container(DEPLOYMENT)
    port = int(image["PROBER_SERVE__PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert image["PROBER_SERVE__HOST"] == "0.0.0.0"  # kubelet probes the pod IP
    assert container["args"] == ["serve"] and "command" not in container  # tini -- prober serve
    health = (ROOT / "prober" / "health.py").read_text()
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):  # fmt: skip
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        assert f'Route("{path}"' in health
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, re.M)
    assert user is not None
    pod_security = DEPLOYMENT["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == tuple(map(int, user.groups()))
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    # Everything the prober and Chromium write is a volume: the store, artifacts, /tmp, /dev/shm.
    mounts, volumes = _mounts(DEPLOYMENT), _volumes(DEPLOYMENT)
    for written in ("PROBER_STORE__PATH", "PROBER_ARTIFACTS__PATH"):
        assert str(Path(image[written]).parent) in mounts, written
    assert "/tmp" in mounts and _env(DEPLOYMENT)["HOME"]["value"] == "/tmp"
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    env = _env(DEPLOYMENT)
    assert env["DD_AGENT_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    memory = container["resources"]["requests"]["memory"]
    assert memory == "1Gi"  # docs/performance.md: 86 MiB serve + 766 MiB Chromium at peak


def test_the_uds_component_points_the_prober_at_the_mounted_socket() -> None:
    patch = yaml.safe_load((DEPLOY / "components" / "agent-uds" / "socket.yaml").read_text())
    values = {op["path"].rsplit("/", 2)[-2]: op["value"] for op in patch}
    url = values["env"]["value"]
    destination = resolve_destination(None, {"DD_DOGSTATSD_URL": url, "DD_AGENT_HOST": "10.0.0.9"})
    assert destination.socket_path is not None
    assert Path(destination.socket_path).parent == Path(values["volumeMounts"]["mountPath"])
    assert values["volumes"]["hostPath"]["path"].rstrip("/") == values["volumeMounts"]["mountPath"]


def test_the_statefulset_is_the_deployments_pod_plus_the_shard() -> None:
    """One pod spec in two files: they may differ only in what sharding adds."""
    deployment_pod = DEPLOYMENT["spec"]["template"]
    sharded_pod = yaml.safe_load(yaml.safe_dump(STATEFULSET["spec"]["template"]))
    container = sharded_pod["spec"]["containers"][0]
    container["args"] = ["serve"]
    container["env"] = [e for e in container["env"] if not e["name"].startswith("SHARD_")]
    data = next(m for m in container["volumeMounts"] if m["name"] == "data")
    assert data["mountPath"] == "/var/lib/prober"
    sharded_pod["spec"]["volumes"].insert(
        [v["name"] for v in deployment_pod["spec"]["volumes"]].index("data"),
        next(v for v in deployment_pod["spec"]["volumes"] if v["name"] == "data"),
    )
    assert sharded_pod == deployment_pod
    claims = [c["metadata"]["name"] for c in STATEFULSET["spec"]["volumeClaimTemplates"]]
    assert claims == ["data"]


def test_the_statefulset_shards_split_every_journey_exactly_once() -> None:
    container = _container(STATEFULSET)
    env = _env(STATEFULSET)
    count = int(env["SHARD_COUNT"]["value"])
    assert count == STATEFULSET["spec"]["replicas"]
    label = env["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert label == "metadata.labels['apps.kubernetes.io/pod-index']"  # the pod's ordinal
    environ = {"SANDBOX_PASSWORD": "x", "PATH": "/usr/bin:/bin"}
    _, catalog = prepare(ROOT / "prober.yaml", environ)
    journeys = sorted(catalog.journeys)
    owners: dict[str, list[int]] = {name: [] for name in journeys}
    for ordinal in range(count):
        # Kubernetes expands $(VAR) in args from the container's env.
        values = {"SHARD_INDEX": str(ordinal), "SHARD_COUNT": str(count)}
        args = [_expand(arg, values) for arg in container["args"]]
        parsed = _parser().parse_args(args)
        assert parsed.command == "serve"
        shard = Shard.parse(parsed.shard)
        assert (shard.index, shard.count) == (ordinal, count)
        for name in journeys:
            if shard.owns(name):
                owners[name].append(ordinal)
    assert all(len(shards) == 1 for shards in owners.values()), owners


def _expand(arg: str, values: dict[str, str]) -> str:
    """$(VAR) as Kubernetes expands it in a container's args."""
    return re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], arg)


def test_the_disruption_budget_covers_the_shards() -> None:
    budget = _load(DEPLOY / "sharded" / "poddisruptionbudget.yaml")
    assert budget["spec"]["maxUnavailable"] == 1
    labels = STATEFULSET["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = _load(DEPLOY / "sharded" / "service.yaml")
    assert service["metadata"]["name"] == STATEFULSET["spec"]["serviceName"]
    assert service["spec"]["clusterIP"] == "None"
