"""The chart's Triton values: a Triton Deployment whose repository an init container lays out from
the cache with ``modelmanager-client triton sync`` (a ConfigMap'd models file), and the watch
sidecar; rendered by Helm's engine and checked against the Kubernetes schemas."""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from modelmanager_client.triton.cli import _parser
from modelmanager_client.triton.models import parse
from tests.deploy.test_chart import KUBE_VERSIONS, Manifest, find, one, render, values_file


def pod(docs: list[Manifest]) -> Manifest:
    spec: Manifest = one(docs, "Deployment", "mm-modelmanager-triton")["spec"]["template"]["spec"]
    return spec


def test_triton_manifests_are_valid_kubernetes() -> None:
    docs, _ = render(values_file("triton-values.yaml"))
    assert find(docs, "Deployment", "mm-modelmanager-triton")
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com"):
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_init_container_syncs_the_configmapped_models_file_onto_the_cache_volume(tmp_path: Any) -> None:
    docs, _ = render(values_file("triton-values.yaml"))
    spec = pod(docs)
    [sync] = spec["initContainers"]
    args = sync["args"]
    assert args[:5] == ["triton", "--models", "/etc/modelmanager-triton/models.toml", "--repository",
                        "/var/cache/modelmanager/triton/mm-modelmanager-triton"]
    assert args[5:] == ["sync", "--cpu"]
    parsed = _parser().parse_args(args[1:])  # the client's own parser takes them
    assert (parsed.command, parsed.cpu) == ("sync", True)
    env = {e["name"]: e.get("value") for e in sync["env"]}
    assert env["MODELMANAGER_URL"] == "http://mm-modelmanager.models.svc.cluster.local:8080"
    assert env["MODELMANAGER_CACHE_MOUNT"] == "/var/cache/modelmanager"
    mounts = {m["name"]: m for m in sync["volumeMounts"]}
    assert mounts["cache"]["readOnly"] is False  # it writes the repository beside the blobs (hard links)
    configmap = one(docs, "ConfigMap", "mm-modelmanager-triton")["data"]
    assert set(configmap) == {"models.toml", "resnet50.pbtxt", "resnet50-cpu.pbtxt", "tokenizer.pbtxt"}
    (tmp_path / "models.toml").write_text(configmap["models.toml"])
    models = parse(configmap["models.toml"], tmp_path / "models.toml")
    assert models.config_file("resnet50", cpu=True) == tmp_path / "resnet50-cpu.pbtxt"

    triton = next(c for c in spec["containers"] if c["name"] == "triton")
    assert triton["args"][:4] == ["tritonserver", "--model-repository=/models", "--model-control-mode=explicit",
                                  "--load-model=*"]
    [repository] = triton["volumeMounts"]
    assert (repository["subPath"], repository["readOnly"]) == ("triton/mm-modelmanager-triton", True)
    claim = next(v for v in spec["volumes"] if v["name"] == "cache")["persistentVolumeClaim"]["claimName"]
    assert claim == one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    service = one(docs, "Service", "mm-modelmanager-triton")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}
    assert service["spec"]["selector"].items() <= one(docs, "Deployment", "mm-modelmanager-triton")[
        "spec"]["template"]["metadata"]["labels"].items()


def test_the_watch_sidecar_talks_grpc_to_its_triton_with_the_admin_token() -> None:
    docs, _ = render(values_file("triton-values.yaml"))
    watch = next(c for c in pod(docs)["containers"] if c["name"] == "triton-watch")
    parsed = _parser().parse_args(watch["args"][1:])
    assert (parsed.command, parsed.triton_url, parsed.interval, parsed.grace) == (
        "watch", "grpc://127.0.0.1:8001", 120.0, 300.0)
    token = next(e for e in watch["env"] if e["name"] == "MODELMANAGER_ADMIN_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "mm-modelmanager", "key": "MODELMANAGER_ADMIN_TOKEN"}


def test_without_the_cache_volume_the_repository_is_an_emptydir_and_the_volume_read_only() -> None:
    docs, _ = render({"triton": {"enabled": True, "models": '[models.a]\nsource = "hf://o/a"\n',
                                 "repositoryOnCacheVolume": False}})
    spec = pod(docs)
    [sync] = spec["initContainers"]
    assert "/models" in sync["args"]
    assert {m["name"]: m.get("readOnly") for m in sync["volumeMounts"]}["cache"] is True
    assert {"name": "repository", "emptyDir": {}} in spec["volumes"]
    assert [c["name"] for c in spec["containers"]] == ["triton"]
    assert find(render({})[0], "Deployment", "mm-modelmanager-triton") == []  # off by default


@pytest.mark.parametrize("bad", [
    {"triton": {"enabled": True}},  # no models file
    {"triton": {"enabled": True, "models": "x", "watch": {"interval": 0}}},
    {"triton": {"enabled": True, "models": "x", "bogus": 1}},
])
def test_bad_triton_values_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises((helm_python.HelmValuesError, helm_python.HelmError)):
        render(bad)
