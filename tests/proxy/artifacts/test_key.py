"""Artifact identity: the key is the blake3 of the manifest's canonical JSON, independent of key
order, different for any other source, target or option, and the manifest survives the index
record; the upload header's parser refuses junk with InvalidKey only (property-based)."""

from __future__ import annotations

import json
from typing import Any

import blake3
from hypothesis import given
from hypothesis import strategies as st

from proxy.artifacts.key import Manifest, canonical_json, sources_of
from proxy.control.artifacts import _manifest
from proxy.digest import Digest
from proxy.errors import InvalidKey
from proxy.storage.index import IndexEntry

digests = st.binary(max_size=16).map(lambda b: str(Digest.of(b)))
texts = st.text(min_size=1, max_size=12)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)
manifests = st.fixed_dictionaries({
    "sources": st.lists(digests, min_size=1, max_size=4),
    "target": st.dictionaries(texts, texts, max_size=5),
    "recipe": st.fixed_dictionaries({"name": st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
                                     "options": st.dictionaries(st.text(max_size=6), json_values, max_size=4)}),
})


def reordered(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: reordered(data[k]) for k in reversed(list(data))}
    if isinstance(data, list):
        return [reordered(v) for v in data]
    return data


@given(manifests)
def test_the_key_is_the_digest_of_the_canonical_json_whatever_the_order(data: dict[str, Any]) -> None:
    manifest = Manifest.model_validate(data)
    assert manifest.key.hex == blake3.blake3(canonical_json(manifest.canonical()).encode()).hexdigest()
    assert Manifest.model_validate(reordered(data)).key == manifest.key
    assert Manifest.model_validate(json.loads(json.dumps(reordered(data)))).key == manifest.key


@given(manifests, texts)
def test_any_other_target_or_option_is_another_key(data: dict[str, Any], extra: str) -> None:
    key = Manifest.model_validate(data).key
    other_target = {**data, "target": {**data["target"], "__other": extra}}
    other_options = {**data, "recipe": {**data["recipe"], "options": {**data["recipe"]["options"], "__x": extra}}}
    other_sources = {**data, "sources": [*data["sources"], str(Digest.of(extra.encode()))]}
    assert len({key, *(Manifest.model_validate(d).key for d in (other_target, other_options, other_sources))}) == 4


@given(manifests, st.lists(texts, max_size=3))
def test_the_manifest_survives_the_index_record(data: dict[str, Any], names: list[str]) -> None:
    manifest = Manifest.model_validate(data)
    entry = IndexEntry(key=manifest.index_key, digest=Digest.of(b"x"), size=1, extra=manifest.extra(tuple(names)))
    back = Manifest.of_entry(IndexEntry.from_json(json.loads(json.dumps(entry.to_json()))))
    assert back == manifest
    assert sources_of(entry) == manifest.sources
    assert Manifest.of_entry(IndexEntry(key="http:x", digest=Digest.of(b"x"), size=1)) is None


@given(st.text(max_size=200) | manifests.map(json.dumps) | st.builds(
    lambda d, k, v: json.dumps({**d, k: v}), manifests, st.text(max_size=6), json_values))
def test_the_upload_header_parser_refuses_junk_with_invalid_key_only(text: str) -> None:
    try:
        manifest, names = _manifest(text)
    except InvalidKey:
        return
    assert isinstance(manifest, Manifest)
    assert isinstance(names, tuple)
