"""charts/examples/fluid: Triton's repository through Fluid (Dataset + ThinRuntime + a goofys
ThinRuntimeProfile) from the proxy's S3 API. The Fluid resources are validated against Fluid's own
CRD schemas (tests/schemas/fluid, strict: unknown fields are errors, as ``kubectl --validate=strict``
makes them), the rest against Kubernetes' schemas; the FUSE entry point is run on a config.json in
Fluid's format."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_chart import KUBE_VERSIONS, one, render, values_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "charts" / "examples" / "fluid"
SCHEMAS = ROOT / "tests" / "schemas" / "fluid"


def strict(schema: Any) -> Any:
    """A CRD's openAPIV3Schema as JSON Schema that refuses fields it does not name."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schemas() -> dict[tuple[str, str], Any]:
    found = {}
    for path in SCHEMAS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api = f"{crd['spec']['group']}/{version['name']}"
            found[(api, crd["spec"]["names"]["kind"])] = strict(version["schema"]["openAPIV3Schema"])
    return found


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLE / "triton-fluid.yaml").read_text()) if d]


def test_every_manifest_is_valid_for_fluid_or_kubernetes() -> None:
    schemas = crd_schemas()
    assert {kind for _, kind in schemas} == {"Dataset", "ThinRuntime", "ThinRuntimeProfile"}
    kinds = []
    for doc in documents():
        kinds.append(doc["kind"])
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        if schema is not None:
            jsonschema.validate(doc, schema)
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    assert kinds == ["ThinRuntimeProfile", "Secret", "Dataset", "ThinRuntime", "Deployment"]


def test_the_strict_schemas_do_refuse_what_fluid_does_not_know() -> None:
    schemas = crd_schemas()
    dataset = next(d for d in documents() if d["kind"] == "Dataset")
    bad = json.loads(json.dumps(dataset))
    bad["spec"]["mounts"][0]["mountpont"] = bad["spec"]["mounts"][0].pop("mountPoint")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas[("data.fluid.io/v1alpha1", "Dataset")])


def test_the_example_points_at_the_charts_s3_port_and_triton_reads_the_datasets_claim() -> None:
    docs, _ = render(values_file("external-redis-values.yaml") | {"fullnameOverride": "mm-modelmanager"})
    service = one(docs, "Service", "mm-modelmanager")
    s3_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "s3")
    dataset = next(d for d in documents() if d["kind"] == "Dataset")
    assert dataset["spec"]["mounts"][0]["options"]["url"] == \
        f"http://mm-modelmanager.models.svc.cluster.local:{s3_port}"
    runtime = next(d for d in documents() if d["kind"] == "ThinRuntime")
    assert runtime["metadata"]["name"] == dataset["metadata"]["name"]  # Fluid binds them by name
    profile = next(d for d in documents() if d["kind"] == "ThinRuntimeProfile")
    assert runtime["spec"]["profileName"] == profile["metadata"]["name"]
    pod = next(d for d in documents() if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == dataset["metadata"]["name"]
    assert "--model-repository=/models" in pod["containers"][0]["args"]


def test_the_fuse_entry_point_turns_fluids_config_into_a_goofys_mount(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("fluid_mount", EXAMPLE / "fluid_mount.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "access-key").write_text("fluid\n")
    (tmp_path / "secret-key").write_text("s3cret")
    config = {"targetPath": "/runtime-mnt/thin/models/triton-models/thin-fuse",  # Fluid's config.json shape
              "mounts": [{"mountPoint": "s3://models/triton", "name": "triton",
                          "options": {"url": "http://mm-modelmanager.models.svc.cluster.local:9000",
                                      "access-key": str(tmp_path / "access-key"),
                                      "secret-key": str(tmp_path / "secret-key")}}]}
    argv, env = module.command(config)
    assert argv == ["goofys", "-f", "-o", "ro", "--endpoint", "http://mm-modelmanager.models.svc.cluster.local:9000",
                    "models:triton", "/runtime-mnt/thin/models/triton-models/thin-fuse"]
    assert env["AWS_ACCESS_KEY_ID"] == "fluid"
    assert env["AWS_SECRET_ACCESS_KEY"] == "s3cret"
    config["mounts"][0]["mountPoint"] = "minio://models"  # type: ignore[index]
    with pytest.raises(SystemExit, match="mountPoint must be s3://"):
        module.command(config)
