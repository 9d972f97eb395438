"""The routes file and --s3-route flags: valid files parse to what they say, every mistake names the
file, the line and the key, and no input makes the parser fail otherwise."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from adapters.s3.bucketroutes import Route, RoutesError, combine, parse_flag, parse_text
from adapters.s3.credentials import Anonymous, AwsChain, Static
from adapters.s3.routing import Defaults, S3Route, StoreRoute, build
from adapters.s3.s3store import S3Store
from adapters.s3.upstream import Endpoint, S3Upstream

bucket_names = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True)
regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "auto"])
env_names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True)
credentials = st.one_of(
    st.just(None),
    st.just({"anonymous": True}),
    st.builds(lambda p: {"profile": p}, st.text(string.ascii_letters + "-_", min_size=1, max_size=12)),
    st.builds(lambda a, s: {"access_key_id_env": a, "secret_access_key_env": s}, env_names, env_names),
    st.builds(lambda n: {"role_arn": f"arn:aws:iam::{n:012d}:role/reader"}, st.integers(0, 10**12 - 1)),
)
s3_routes = st.fixed_dictionaries(
    {"upstream": st.sampled_from(["https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000", "https://minio.lan/"])},
    optional={"region": regions, "bucket": bucket_names, "credentials": credentials})
store_routes = st.builds(lambda b: {"upstream": b}, st.one_of(
    bucket_names.map(lambda b: f"gs://{b}"), bucket_names.map(lambda b: f"az://account1/{b}")))
files = st.dictionaries(st.one_of(bucket_names, st.just("*")), st.one_of(s3_routes, store_routes), max_size=6)


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


@settings(max_examples=150, deadline=None)
@given(files)
def test_a_valid_file_parses_to_what_it_says(buckets: dict[str, dict[str, Any]]) -> None:
    text = yaml.safe_dump({"buckets": {b: _drop_none(r) for b, r in buckets.items()}}, sort_keys=False)
    routes = parse_text(text, "routes.yaml")
    assert [r.bucket for r in routes] == list(buckets)
    for route in routes:
        written = buckets[route.bucket]
        assert route.spec.upstream == written["upstream"]
        assert route.spec.region == written.get("region")
        assert route.spec.bucket == written.get("bucket")
        creds = route.spec.credentials.model_dump(exclude_defaults=True) if route.spec.credentials else None
        assert creds == written.get("credentials")
        assert route.origin.startswith("routes.yaml:")
        line = int(route.origin.rpartition(":")[2])
        assert text.splitlines()[line - 1].lstrip().startswith((route.bucket, f"'{route.bucket}'"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_a_routes_error(text: str) -> None:
    try:
        parse_text(text, "f.yaml")
    except RoutesError as exc:
        message = str(exc)
    else:
        message = "f.yaml"
    assert message.startswith("f.yaml")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=12))
def test_any_yaml_document_is_parsed_or_refused_with_a_routes_error(document: Any) -> None:
    try:
        parse_text(yaml.safe_dump({"buckets": document}), "f.yaml")
    except RoutesError as exc:
        message = str(exc)
    else:
        message = "f.yaml:"
    assert message.startswith("f.yaml:")


BAD = """\
buckets:
  models:
    upstream: https://s3.eu-west-1.amazonaws.com
  other:
    upstream: https://s3.eu-west-1.amazonaws.com
    credentials:
      access_key_id_env: KEY_ID
      secret_access_key_env: KEY_SECRET
      profile: team-a
"""


@pytest.mark.parametrize(("text", "expected"), [
    (BAD, "routes.yaml:6: buckets.other.credentials: Value error, choose one of"),
    ("buckets:\n  models:\n    upstream: ftp://x\n",
     "routes.yaml:3: buckets.models.upstream: Value error, upstream must"),
    ("buckets:\n  m:\n    upstream: gs://b\n    region: eu-west-1\n", "routes.yaml:2: buckets.m: Value error, region"),
    ("buckets:\n  models:\n    upstream: http://h\n    regoin: x\n",
     "routes.yaml:4: buckets.models.regoin: Extra inputs"),
    ("buckets:\n  models:\n    upstream: [\n", "routes.yaml:4: not valid YAML"),
    ("buckets:\n  'no/slash':\n    upstream: http://h\n", "routes.yaml:1: buckets: Value error, not a bucket name"),
    ("buckets:\n  m:\n    upstream: az://acct\n", "routes.yaml:3: buckets.m.upstream: Value error, an Azure target"),
])
def test_mistakes_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(RoutesError) as exc:
        parse_text(text, "routes.yaml")
    assert str(exc.value).startswith(expected), str(exc.value)


def test_flags_and_duplicates() -> None:
    flag = parse_flag("models=https://s3.ap-southeast-2.amazonaws.com")
    assert flag.bucket == "models"
    assert flag.spec.signing_region("us-east-1") == "ap-southeast-2"
    assert parse_flag("*=gs://bucket-1").spec.scheme == "gs"
    for bad in ("models", "=http://h", "models=ftp://h", "a/b=http://h"):
        with pytest.raises(RoutesError, match="--s3-route"):
            parse_flag(bad)
    file_routes = parse_text("buckets:\n  models:\n    upstream: http://h\n", "r.yaml")
    with pytest.raises(RoutesError, match=r"--s3-route: bucket 'models' is already routed at r.yaml:2"):
        combine(file_routes, [flag])


def test_building_targets_names_what_is_missing() -> None:
    defaults = Defaults("us-east-1", Anonymous())
    routes = combine(parse_text("""\
buckets:
  a:
    upstream: http://127.0.0.1:9000
    credentials: {access_key_id_env: A_ID, secret_access_key_env: A_SECRET, session_token_env: A_TOKEN}
  b:
    upstream: https://s3.eu-west-1.amazonaws.com
    bucket: b-upstream
  c:
    upstream: http://127.0.0.1:9000
    credentials: {anonymous: true}
  d:
    upstream: https://s3.amazonaws.com
    credentials: {role_arn: "arn:aws:iam::123456789012:role/r"}
""", "r.yaml"))
    with pytest.raises(RoutesError, match=r"r.yaml:2: bucket 'a': .* A_ID, A_SECRET, which are not set"):
        build(routes, defaults, {}, environ={})
    targets = build(routes, defaults, {}, environ={"A_ID": "id", "A_SECRET": "secret", "A_TOKEN": "tok"})
    a, b, c, d = (targets[n] for n in "abcd")
    assert isinstance(a, S3Route)
    assert isinstance(a.endpoint.credentials, Static)
    assert a.endpoint.credentials.credentials.session_token == "tok"
    assert isinstance(b, S3Route)
    assert (b.upstream_bucket, b.endpoint.region) == ("b-upstream", "eu-west-1")
    assert isinstance(c, S3Route)
    assert isinstance(c.endpoint.credentials, Anonymous)
    assert isinstance(d, S3Route)
    assert isinstance(d.endpoint.credentials, AwsChain)
    assert d.endpoint.credentials.role_arn == "arn:aws:iam::123456789012:role/r"

    gs = combine([Route("ckpt", parse_flag("ckpt=gs://ckpt-bucket").spec, "--s3-route")])
    with pytest.raises(RoutesError, match=r"--s3-route: bucket 'ckpt': no store for gs:// configured in this build"):
        build(gs, defaults, {})
    targets = build(gs, defaults, {"gs": lambda target, session: S3Store(S3Upstream(Endpoint(URL(target), "r"),
                                                                                      session), "b", "ckpt")})
    route = targets["ckpt"]
    assert isinstance(route, StoreRoute)
    assert route.target == "gs://ckpt-bucket"
