"""Deployment files: checked without a Docker engine or a cluster.

Every manifest parses, probes point at the health route, the image runs as a
non-root user with a healthcheck, and every JONBU_* variable the files set is a
real setting (so a typo cannot ship).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jonbu_core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KNOWN = {f"JONBU_{name.upper()}" for name in Settings.model_fields} | {"APCA_API_KEY_ID", "APCA_API_SECRET_KEY"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _all_k8s() -> list[dict[str, Any]]:
    return [d for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in _docs(p)]


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_every_k8s_object_is_well_formed() -> None:
    docs = _all_k8s()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "Job"} <= kinds
    for d in docs:
        assert d.get("apiVersion") and d.get("metadata", {}).get("name"), d


def test_api_deployment_probes_health_and_hpa_targets_it() -> None:
    docs = _all_k8s()
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "jonbu-api")
    c = api["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {"secretRef": {"name": "jonbu-secrets"}} in c["envFrom"]
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "jonbu-api"
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "jonbu-api")
    assert svc["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]


def test_config_names_are_real_settings() -> None:
    cm = next(d for d in _all_k8s() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "jonbu-config")
    for key in cm["data"]:
        assert key in KNOWN, key
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["x-jonbu-env"]
    for key in env:
        assert key in KNOWN, key
    # And the values the files set are valid settings.
    values = {k.removeprefix("JONBU_").lower(): v for k, v in cm["data"].items() if k.startswith("JONBU_")}
    values["database_url"] = "postgresql://u@h/db"
    Settings(**values)


def test_compose_stack_shape() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api1", "api2", "nginx", "stream", "dagster-webserver",
            "dagster-daemon"} <= set(services)
    assert services["api2"]["command"] == services["api1"]["command"]
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert "server api1:8000" in conf and "server api2:8000" in conf and "Upgrade" in conf


@pytest.mark.parametrize("stage", ["frontend", "builder", "runtime"])
def test_dockerfile_stages(stage: str) -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^FROM .+ AS {stage}$", text, re.M)


def test_dockerfile_runtime_is_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER jonbu$", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/api/v1/health" in runtime
    # Everything the image copies exists in the repo.
    for line in re.findall(r"^COPY .+$", text, re.M):
        if "--from=" in line:
            continue
        for src in [w for w in line.split()[1:-1] if not w.startswith("--")]:
            assert (ROOT / src).exists(), src
