"""The Helm chart, rendered by Helm's own engine and checked against the Kubernetes API schemas (offline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from proxy.config import ENV_PREFIX, Settings

CHART = Path(__file__).resolve().parents[2] / "charts" / "modelmanager"
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())  # Chart.yaml's kubeVersion floor, and newest
Manifest = dict[str, Any]


def values_file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] | None = yaml.safe_load((CHART / "ci" / name).read_text())
    return loaded or {}


def render(values: dict[str, Any]) -> tuple[list[Manifest], str]:
    rendered = helm_python.Chart.load(CHART).render(values=values, name="mm", namespace="models", is_install=True)
    notes = rendered.pop("modelmanager/templates/NOTES.txt", "")
    docs = [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]
    return docs, notes


def find(docs: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    [doc] = find(docs, kind, name)
    return doc


def proxy_container(docs: list[Manifest]) -> Manifest:
    containers: list[Manifest] = one(docs, "Deployment", "mm-modelmanager")["spec"]["template"]["spec"]["containers"]
    [container] = [c for c in containers if c["name"] == "proxy"]
    return container


def variables(docs: list[Manifest]) -> dict[str, str]:
    """Every MODELMANAGER_* a proxy pod gets from the chart's ConfigMap, Secret and env."""
    found: dict[str, str] = {**one(docs, "ConfigMap")["data"]}
    for secret in find(docs, "Secret"):
        found.update(secret.get("stringData") or {})
    found.update({e["name"]: e.get("value", "<ref>") for e in proxy_container(docs)["env"]})
    return {k: v for k, v in found.items() if k.startswith(ENV_PREFIX)}


@pytest.mark.parametrize("values", ["default-values.yaml", "external-redis-values.yaml", "ucx-values.yaml"])
def test_every_rendered_manifest_is_valid_kubernetes(values: str) -> None:
    docs, _ = render(values_file(values))
    assert docs
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":  # a CRD: no schema ships with Kubernetes
            assert doc["kind"] == "ServiceMonitor"
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_helm_lint_finds_no_errors() -> None:
    report = helm_python.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # info only (e.g. "icon is recommended")


def test_defaults_bundle_redis_and_a_shared_claim() -> None:
    docs, notes = render({})
    assert {d["kind"] for d in docs} == {"ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service",
                                         "Deployment", "PodDisruptionBudget"}
    deployment = one(docs, "Deployment", "mm-modelmanager")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    container = proxy_container(docs)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True

    env = [e["name"] for e in container["env"]]
    refs = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert refs["MODELMANAGER_NODE_ID"] == "metadata.name"
    assert refs["POD_IP"] == "status.podIP"
    advertise = next(e["value"] for e in container["env"] if e["name"] == "MODELMANAGER_ADVERTISE_URL")
    assert advertise == "http://$(POD_IP):8080"
    assert env.index("POD_IP") < env.index("MODELMANAGER_ADVERTISE_URL"), "$(VAR) expands only earlier variables"

    claim = one(docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "cache"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]

    assert variables(docs)["MODELMANAGER_WORKERS"] == "0", "by default every core of the pod serves"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert variables(docs)["MODELMANAGER_SHUTDOWN_DELAY"] == "5", "new connections, while endpoints update"
    assert variables(docs)["MODELMANAGER_SHUTDOWN_TIMEOUT"] == "15", "responses drain; 10 s are left to hand over"
    redis_url = variables(docs)["MODELMANAGER_REDIS_URL"]
    host = re.fullmatch(r"redis://([^:/]+):(\d+)/0", redis_url)
    assert host is not None
    redis_service = one(docs, "Service", host[1])
    assert redis_service["spec"]["ports"][0]["port"] == int(host[2])
    redis_pods = one(docs, "Deployment", host[1])["spec"]["template"]["metadata"]["labels"]
    assert redis_service["spec"]["selector"].items() <= redis_pods.items()

    assert [p["name"] for p in one(docs, "Service", "mm-modelmanager")["spec"]["ports"]] == ["http"]
    assert "HF_ENDPOINT=http://mm-modelmanager.models.svc.cluster.local:8080" in notes
    assert "AWS_ENDPOINT_URL" not in notes  # no S3 upstream configured


def test_external_redis_existing_claim_and_secret() -> None:
    docs, notes = render(values_file("external-redis-values.yaml"))
    assert find(docs, "Deployment", "mm-modelmanager-redis") == []
    assert find(docs, "PersistentVolumeClaim") == []
    assert find(docs, "Secret") == []
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert "replicas" not in one(docs, "Deployment")["spec"], "the HPA owns the replica count"
    [volume] = [v for v in pod["volumes"] if v["name"] == "cache"]
    assert volume["persistentVolumeClaim"]["claimName"] == "models-cache"
    assert {"secretRef": {"name": "modelmanager-credentials"}} in proxy_container(docs)["envFrom"]
    assert variables(docs)["MODELMANAGER_REDIS_URL"] == "redis://redis.infra.svc.cluster.local:6379/0"
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 8)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mm-modelmanager"
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = one(docs, "Service", "mm-modelmanager")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8080, "s3": 9000}
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert "AWS_ENDPOINT_URL=http://mm-modelmanager.models.svc.cluster.local:9000" in notes


def test_secret_values_go_to_the_chart_secret_not_the_configmap() -> None:
    docs, _ = render({"secrets": {"hfToken": "hf_secret", "s3ClientKeys": "team:pw", "adminToken": "adm"},
                      "redis": {"enabled": False, "url": "redis://:pw@redis:6379/0"}})
    secret = one(docs, "Secret")["stringData"]
    generated = secret.pop("MODELMANAGER_CLUSTER_SECRET")
    assert secret == {"MODELMANAGER_HF_TOKEN": "hf_secret", "MODELMANAGER_S3_CLIENT_KEYS": "team:pw",
                      "MODELMANAGER_ADMIN_TOKEN": "adm", "MODELMANAGER_REDIS_URL": "redis://:pw@redis:6379/0"}
    assert re.fullmatch(r"[A-Za-z0-9]{43}", generated)
    assert "pw" not in yaml.safe_dump(one(docs, "ConfigMap"))
    assert "hf_secret" not in yaml.safe_dump(one(docs, "Deployment"))


def test_admin_token_and_cluster_secret_are_generated_into_the_secret() -> None:
    docs, notes = render({})
    secret = one(docs, "Secret")["stringData"]
    token, cluster = secret["MODELMANAGER_ADMIN_TOKEN"], secret["MODELMANAGER_CLUSTER_SECRET"]
    assert re.fullmatch(r"[A-Za-z0-9]{43}", token)
    assert re.fullmatch(r"[A-Za-z0-9]{43}", cluster)
    assert token != cluster
    again = one(render({})[0], "Secret")["stringData"]
    assert again["MODELMANAGER_ADMIN_TOKEN"] != token, "each install gets its own token"
    assert token not in yaml.safe_dump(find(docs, "Deployment"))
    assert "MODELMANAGER_ADMIN_TOKEN" in notes, "the notes say how to read the token"
    given = one(render({"secrets": {"adminToken": "mine", "clusterSecret": "ours"}})[0], "Secret")["stringData"]
    assert (given["MODELMANAGER_ADMIN_TOKEN"], given["MODELMANAGER_CLUSTER_SECRET"]) == ("mine", "ours")


@pytest.mark.parametrize("values", ["default-values.yaml", "external-redis-values.yaml"])
def test_every_variable_the_chart_sets_is_a_setting(values: str) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    names = {name.removeprefix(ENV_PREFIX) for name in variables(render(values_file(values))[0])}
    assert names - fields == set()


def test_ci_config_keys_are_settings() -> None:
    config = values_file("external-redis-values.yaml")["config"]
    assert config
    assert set(config) <= set(Settings.model_fields)


@pytest.mark.parametrize("bad", [
    {"peerMode": "bogus"},
    {"replicas": 3},
    {"replicaCount": "two"},
    {"redis": {"url": "http://not-redis"}},
    {"config": {"HTTP_ALLOW": "x"}},
    {"persistence": {"size": "lots"}},
    {"workers": -1},
    {"workers": "all"},
    {"ucx": {"engines": "rdma"}},
    {"ucx": {"env": {"LD_PRELOAD": "/x.so"}}},
    {"ucx": {"daemonset": {"replicas": 2}}},
])
def test_schema_rejects_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(bad)


def test_every_value_is_documented() -> None:
    """A `# --` comment stands above every key of values.yaml, or above one of its parents."""
    undocumented: list[str] = []
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the open parents
    lines = (CHART / "values.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        key = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if key is None:
            continue
        indent = len(key[1])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#") and not lines[above].strip().startswith("# --"):
            above -= 1
        documented = above >= 0 and lines[above].strip().startswith("# --")
        if not documented and not any(d for _, d in stack) and not _has_children(lines, number, indent):
            undocumented.append(key[2])
        stack.append((indent, documented))
    assert undocumented == []


def _has_children(lines: list[str], number: int, indent: int) -> bool:
    for line in lines[number + 1:]:
        if not line.strip() or line.strip().startswith("#"):
            continue
        return len(line) - len(line.lstrip()) > indent and not line.strip().startswith("-")
    return False


def test_ucx_sidecar_is_off_by_default() -> None:
    docs, _ = render({})
    [container] = one(docs, "Deployment", "mm-modelmanager")["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "proxy"
    assert find(docs, "DaemonSet") == []
    assert [p["name"] for p in one(docs, "Service", "mm-modelmanager")["spec"]["ports"]] == ["http"]


def test_ucx_sidecar_beside_the_proxy_and_on_the_nodes() -> None:
    docs, notes = render(values_file("ucx-values.yaml"))
    assert "MODELMANAGER_UCX=mm-modelmanager.models.svc.cluster.local:13337" in notes
    assert "MODELMANAGER_UCX=$(HOST_IP):13337" in notes
    assert "MODELMANAGER_UCX" not in render({})[1]
    pod = one(docs, "Deployment", "mm-modelmanager")["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["containers"] if c["name"] == "ucx-sidecar")
    assert sidecar["command"] == ["python", "-m", "ucx_sidecar"]
    assert sidecar["args"] == ["--cache=/var/cache/modelmanager", "--listen=0.0.0.0:13337", "--engines=ucxx,nixl"]
    assert {"name": "cache", "mountPath": "/var/cache/modelmanager", "readOnly": True} in sidecar["volumeMounts"]
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["UCX_TLS"]["value"] == "rc,sm,self"
    assert env["UCX_NET_DEVICES"]["value"] == "mlx5_0:1"
    secret = env["MODELMANAGER_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]
    assert (secret["name"], secret["key"]) == ("mm-modelmanager", "MODELMANAGER_CLUSTER_SECRET")
    assert "MODELMANAGER_CLUSTER_SECRET" in one(docs, "Secret")["stringData"], "the proxy's own cluster secret"
    assert sidecar["resources"]["limits"]["rdma/hca"] == 1
    assert sidecar["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    proxy = next(c for c in pod["containers"] if c["name"] == "proxy")
    assert proxy["securityContext"]["capabilities"] == {"drop": ["ALL"]}, "only the sidecar locks memory"
    service = one(docs, "Service", "mm-modelmanager")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["ucx"] == 13337
    assert next(p for p in sidecar["ports"] if p["name"] == "ucx")["containerPort"] == 13337

    daemonset = one(docs, "DaemonSet", "mm-modelmanager-ucx")
    node_pod = daemonset["spec"]["template"]["spec"]
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= daemonset["spec"]["template"]["metadata"][
        "labels"].items()
    assert daemonset["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "ucx-sidecar"
    proxy_selector = one(docs, "Service", "mm-modelmanager")["spec"]["selector"]
    assert not proxy_selector.items() <= daemonset["spec"]["template"]["metadata"]["labels"].items(), \
        "the proxy Service must not send HTTP to the node sidecars"
    assert node_pod["hostNetwork"] is True
    assert node_pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert node_pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    [node_sidecar] = node_pod["containers"]
    assert node_sidecar["args"] == sidecar["args"]
    [volume] = [v for v in node_pod["volumes"] if v["name"] == "cache"]
    assert volume["persistentVolumeClaim"] == {"claimName": "mm-modelmanager-cache", "readOnly": True}
    assert "hostPort" not in node_sidecar["ports"][0], "host network: the port is the node's already"
    bridged = one(render({"ucx": {"daemonset": {"enabled": True}}})[0], "DaemonSet")["spec"]["template"]["spec"]
    assert bridged["containers"][0]["ports"][0]["hostPort"] == 13337
    assert bridged["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True, "the proxy's by default"
    assert "hostNetwork" not in bridged
