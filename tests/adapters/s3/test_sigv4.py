"""sigv4.py against botocore's own signer (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from adapters.s3 import address, sigv4
from adapters.s3.auth import ClientKeys, SignedRequest, authenticate
from adapters.s3.wire import S3Fault
from proxy.errors import InvalidKey

NOW = datetime.now(UTC).replace(microsecond=0)  # botocore signs with the current time
KEYS = ClientKeys.parse("testkey:testsecret, other:othersecret")


def botocore_signed(url: str, headers: dict[str, str], presign: bool = False) -> AWSRequest:
    request = AWSRequest(method="GET", url=url, headers=headers)
    signer = (S3SigV4QueryAuth(Credentials("testkey", "testsecret"), "s3", "us-east-1", expires=60) if presign
              else S3SigV4Auth(Credentials("testkey", "testsecret"), "s3", "us-east-1"))
    signer.add_auth(request)
    return request


def as_received(request: AWSRequest) -> SignedRequest:
    prepared = request.prepare()
    raw = prepared.url.split("://", 1)[1].split("/", 1)[1]
    path, _, query = ("/" + raw).partition("?")
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = "proxy:8080"
    return SignedRequest("GET", path, sigv4.query_pairs(query), headers)


URL = "http://proxy:8080/s3/models/dir/a%20b%2Bc%3D1%20%C3%BC.txt?list-type=2&prefix=a%2Fb&delimiter="


@pytest.mark.parametrize("presign", [False, True])
def test_verifies_what_botocore_signs(presign: bool) -> None:
    headers = {"Range": "bytes=0-9"} if presign else {"Range": "bytes=0-9", "X-Amz-Content-SHA256": sigv4.EMPTY_SHA256}
    request = botocore_signed(URL, headers, presign)
    received = as_received(request)
    assert authenticate(KEYS, received, NOW + timedelta(seconds=30)) == "testkey"
    wrong = ClientKeys.parse("testkey:WRONG")
    with pytest.raises(S3Fault) as exc:
        authenticate(wrong, received, NOW)
    assert exc.value.error.code == "SignatureDoesNotMatch"
    if presign:
        signed_at = datetime.strptime(dict(received.query)["X-Amz-Date"], sigv4.AMZ_DATE_FORMAT)
        with pytest.raises(S3Fault) as exc:
            authenticate(KEYS, received, signed_at.replace(tzinfo=UTC) + timedelta(seconds=61))
        assert exc.value.error.message == "Request has expired"


def test_a_changed_signed_header_is_refused() -> None:
    received = as_received(botocore_signed(URL, {"Range": "bytes=0-9", "X-Amz-Content-SHA256": sigv4.EMPTY_SHA256}))
    tampered = SignedRequest(received.method, received.raw_path, received.query,
                             {**received.headers, "range": "bytes=0-99"})
    with pytest.raises(S3Fault) as exc:
        authenticate(KEYS, tampered, NOW)
    assert exc.value.error.code == "SignatureDoesNotMatch"


def test_sign_matches_botocore() -> None:
    pairs = [("list-type", "2"), ("prefix", "a/b c+d")]
    theirs = botocore_signed("http://upstream:9000/models?" + sigv4.canonical_query(pairs),
                             {"Range": "bytes=1-2", "X-Amz-Content-SHA256": sigv4.EMPTY_SHA256})
    when = datetime.strptime(theirs.headers["X-Amz-Date"], sigv4.AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    mine = sigv4.sign("GET", "upstream:9000", "/models", pairs, {"Range": "bytes=1-2"},
                      sigv4.Credentials("testkey", "testsecret"), "us-east-1", when)
    sig = theirs.headers["Authorization"].rpartition("Signature=")[2]
    assert mine["Authorization"].rpartition("Signature=")[2] == sig


def test_addresses() -> None:
    assert address.parse("/s3/models/a%20b%2Bc", "h", prefixed=True, virtual_host_suffix=None) == \
        address.Target("models", "a b+c")
    assert address.parse("/s3/", "h", prefixed=True, virtual_host_suffix=None) == address.Target(None, None)
    assert address.parse("/models", "h", prefixed=False, virtual_host_suffix="s3.local") == \
        address.Target("models", None)
    assert address.parse("/k/x", "models.s3.local:9000", prefixed=False, virtual_host_suffix="s3.local") == \
        address.Target("models", "k/x")
    for bad in ("/s3/models/../other/k", "/s3/models/a/%2e%2e/b", "/s3/models/a%00b"):
        with pytest.raises(InvalidKey):
            address.parse(bad, "h", prefixed=True, virtual_host_suffix=None)
