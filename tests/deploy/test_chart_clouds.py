"""The chart's cloud credentials: ServiceAccount annotations for EKS IRSA, GKE and Azure Workload
Identity, the S3 routes file from a ConfigMap, the GCS key file and Azure key/SAS from Secrets.

Each example value set (``ci/eks-values.yaml``, ``ci/gke-values.yaml``, ``ci/aks-values.yaml``) is
rendered by Helm's engine, validated against the Kubernetes API schemas, and turned back into the
proxy's own settings: the routes file the ConfigMap holds is loaded by the proxy's routes loader and
its frontends are built from it, so a route the proxy would refuse at start-up fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from adapters.s3.routes import S3Frontend
from proxy.__main__ import frontends
from proxy.config import ENV_PREFIX, Settings
from tests.deploy.test_chart import KUBE_VERSIONS, Manifest, find, one, proxy_container, render, values_file

EXAMPLES = ["eks-values.yaml", "gke-values.yaml", "aks-values.yaml"]
PLACEHOLDER = {"MODELMANAGER_AZURE_SAS_TOKEN": "sv=2024-11-04&ss=b&sig=placeholder",
               "MODELMANAGER_AZURE_ACCOUNT_KEY": "cGxhY2Vob2xkZXI="}
"""Values a secretKeyRef would bring in a cluster."""


def pod(docs: list[Manifest]) -> Manifest:
    template: Manifest = one(docs, "Deployment", "mm-modelmanager")["spec"]["template"]
    return template


def environment(docs: list[Manifest]) -> dict[str, str]:
    """Every MODELMANAGER_* the proxy container gets; a secretKeyRef as ``secret:<name>/<key>``."""
    found: dict[str, str] = {**one(docs, "ConfigMap", "mm-modelmanager")["data"]}
    for secret in find(docs, "Secret"):
        found.update(secret.get("stringData") or {})
    for entry in proxy_container(docs)["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        found[entry["name"]] = f"secret:{ref['name']}/{ref['key']}" if ref else entry.get("value", "<field>")
    return {k: v for k, v in found.items() if k.startswith(ENV_PREFIX)}


def mounts(docs: list[Manifest]) -> dict[str, tuple[str, Manifest]]:
    """Volume name -> (mount path, volume source) of the proxy container."""
    volumes = {v["name"]: v for v in pod(docs)["spec"]["volumes"]}
    return {m["name"]: (m["mountPath"], volumes[m["name"]]) for m in proxy_container(docs)["volumeMounts"]}


def settings_of(docs: list[Manifest], tmp_path: Path) -> Settings:
    """The proxy's settings from the rendered variables, the mounted routes file written under tmp_path."""
    env = environment(docs)
    values: dict[str, Any] = {}
    for name, value in env.items():
        if value.startswith("secret:"):
            value = PLACEHOLDER[name]
        values[name.removeprefix(ENV_PREFIX).lower()] = value
    values.pop("advertise_url", None)  # $(POD_IP), expanded by the kubelet
    values.pop("node_id", None)
    values["cache_dir"] = tmp_path / "cache"
    if "s3_routes" in values:
        [routes] = find(docs, "ConfigMap", "mm-modelmanager-s3-routes")
        path, volume = mounts(docs)["s3-routes"]
        assert volume["configMap"]["name"] == "mm-modelmanager-s3-routes"
        assert values["s3_routes"] == f"{path}/routes.yaml"
        local = tmp_path / "routes.yaml"
        local.write_text(routes["data"]["routes.yaml"])
        values["s3_routes"] = local
    return Settings(**values)


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_are_valid_kubernetes_and_settings_the_proxy_starts_with(example: str, tmp_path: Path) -> None:
    docs, notes = render(values_file(example))
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    settings = settings_of(docs, tmp_path)
    s3 = [f for f in frontends(settings) if isinstance(f, S3Frontend)]
    assert len(s3) == 1, "the routes file turns the S3 API on"
    routed = sorted(values_file(example)["s3"]["routes"])
    assert sorted(s3[0].router.targets) == routed
    assert "AWS_ENDPOINT_URL" in notes
    ports = {p["name"]: p["port"] for p in one(docs, "Service", "mm-modelmanager")["spec"]["ports"]}
    assert ports == {"http": 8080, "s3": 9000}
    assert "checksum/s3-routes" in pod(docs)["metadata"]["annotations"]
    account = one(docs, "ServiceAccount")
    assert pod(docs)["spec"]["serviceAccountName"] == account["metadata"]["name"] == "mm-modelmanager"
    assert account["automountServiceAccountToken"] is False
    assert pod(docs)["spec"]["automountServiceAccountToken"] is False


def test_eks_irsa_annotates_the_service_account_and_routes_buckets(tmp_path: Path) -> None:
    docs, _ = render(values_file("eks-values.yaml"))
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/modelmanager-s3-read"}
    path, volume = mounts(docs)["s3-routes"]
    assert (path, volume["configMap"]) == ("/etc/modelmanager/s3-routes", {"name": "mm-modelmanager-s3-routes"})
    assert [m.get("readOnly") for m in proxy_container(docs)["volumeMounts"] if m["name"] == "s3-routes"] == [True]
    routes = yaml.safe_load(one(docs, "ConfigMap", "mm-modelmanager-s3-routes")["data"]["routes.yaml"])
    assert routes == {"buckets": values_file("eks-values.yaml")["s3"]["routes"]}
    assert "azure.workload.identity/use" not in pod(docs)["metadata"]["labels"]
    env = environment(docs)
    assert not {k for k in env if "GCS" in k or "AZURE" in k or "ACCESS_KEY" in k}, "IRSA needs no keys"


def test_gke_workload_identity_or_a_key_file_from_a_secret(tmp_path: Path) -> None:
    docs, _ = render(values_file("gke-values.yaml"))
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "modelmanager@my-project.iam.gserviceaccount.com"}
    assert "gcs-credentials" not in mounts(docs)
    assert settings_of(docs, tmp_path).gcs_credentials == "default"
    assert environment(docs)["MODELMANAGER_GCS_ALLOW"] == "my-models,ckpt-*"

    keyed = {**values_file("gke-values.yaml"), "serviceAccount": {},
             "gcs": {"credentialsSecret": {"name": "gcs-key", "key": "sa.json"}}}
    docs, _ = render(keyed)
    assert "annotations" not in one(docs, "ServiceAccount")["metadata"]
    path, volume = mounts(docs)["gcs-credentials"]
    assert volume["secret"] == {"secretName": "gcs-key", "items": [{"key": "sa.json", "path": "sa.json"}]}
    assert environment(docs)["MODELMANAGER_GCS_CREDENTIALS"] == f"{path}/sa.json"
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)


def test_aks_workload_identity_labels_the_pods_and_takes_the_sas_from_a_secret(tmp_path: Path) -> None:
    docs, _ = render(values_file("aks-values.yaml"))
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "00000000-1111-2222-3333-444444444444",
        "azure.workload.identity/tenant-id": "55555555-6666-7777-8888-999999999999"}
    assert pod(docs)["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    env = environment(docs)
    assert env["MODELMANAGER_AZURE_SAS_TOKEN"] == "secret:modelmanager-azure-sas/sasToken"
    assert env["MODELMANAGER_AZURE_ALLOW"] == "mystorageaccount/models"
    assert "MODELMANAGER_AZURE_SAS_TOKEN" not in one(docs, "Secret").get("stringData", {})
    assert settings_of(docs, tmp_path).azure_sas_token is not None

    in_chart = render({"secrets": {"azureAccountKey": "c2VjcmV0"}, "azure": {"credentials": "anonymous"}})[0]
    assert one(in_chart, "Secret")["stringData"]["MODELMANAGER_AZURE_ACCOUNT_KEY"] == "c2VjcmV0"
    assert one(in_chart, "ConfigMap")["data"]["MODELMANAGER_AZURE_CREDENTIALS"] == "anonymous"
    assert "MODELMANAGER_AZURE_ACCOUNT_KEY" not in one(in_chart, "ConfigMap")["data"]
    from_secret = render({"azure": {"accountKeySecret": {"name": "storage", "key": "key1"}}})[0]
    assert environment(from_secret)["MODELMANAGER_AZURE_ACCOUNT_KEY"] == "secret:storage/key1"


def test_an_existing_service_account_is_used_and_the_pods_still_get_the_azure_label() -> None:
    docs, _ = render({"serviceAccount": {"create": False, "name": "model-identity",
                                         "azureClientId": "00000000-1111-2222-3333-444444444444"}})
    assert find(docs, "ServiceAccount") == []
    assert pod(docs)["spec"]["serviceAccountName"] == "model-identity"
    assert pod(docs)["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_defaults_add_no_identity_annotations_routes_or_cloud_settings() -> None:
    docs, _ = render({})
    assert "annotations" not in one(docs, "ServiceAccount")["metadata"]
    assert find(docs, "ConfigMap", "mm-modelmanager-s3-routes") == []
    assert set(mounts(docs)) == {"cache", "tmp"}
    assert not {k for k in environment(docs) if "GCS" in k or "AZURE" in k or "ROUTES" in k}


@pytest.mark.parametrize("bad", [
    {"serviceAccount": {"awsRoleArn": "model-reader"}},
    {"serviceAccount": {"gcpServiceAccount": "modelmanager@gmail.com"}},
    {"serviceAccount": {"azureClientId": "not-a-guid"}},
    {"s3": {"routes": {"models": {"region": "eu-west-1"}}}},
    {"s3": {"routes": {"models": {"upstream": "ftp://example.com"}}}},
    {"azure": {"credentials": "managed"}},
    {"gcs": {"credentialsSecret": {"name": "k", "path": "x"}}},
])
def test_schema_rejects_bad_cloud_values(bad: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(bad)
