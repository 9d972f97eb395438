from __future__ import annotations

from pathlib import Path

import pytest

from proxy.digest import Digest
from proxy.errors import InvalidKey
from proxy.storage.layout import Layout


def test_blob_paths_are_sharded_by_digest(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    d = Digest.of(b"x")
    assert layout.blob(d) == tmp_path / "blobs" / d.hex[:2] / d.hex
    assert layout.digest_of(layout.blob(d)) == d
    assert layout.digest_of(tmp_path / "blobs" / "zz" / d.hex) is None
    assert layout.digest_of(tmp_path / "blobs" / d.hex[:2] / "stray") is None


@pytest.mark.parametrize("key", ["http:https://h/../../etc/passwd", "http:/../../x", "http:" + "/.." * 50])
def test_record_paths_never_leave_the_index(tmp_path: Path, key: str) -> None:
    path = Layout(tmp_path).record(key)
    assert path.parent.parent == tmp_path / "index"
    assert path.name.endswith(".json")
    assert ".." not in path.name


@pytest.mark.parametrize("node_id", ["", "../x", "a/b", ".hidden", "x" * 64, "a b"])
def test_bad_node_ids_are_refused(tmp_path: Path, node_id: str) -> None:
    with pytest.raises(InvalidKey):
        Layout(tmp_path).tmp(node_id)


def test_fill_tmp_reroots_a_peers_path_into_this_view_and_refuses_anything_else(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "here")
    name = "fill-" + "ab" * 12
    # another pod mounts the volume elsewhere: the same file, in this pod's view
    assert layout.fill_tmp(f"/mnt/elsewhere/tmp/pod-0/{name}") == tmp_path / "here" / "tmp" / "pod-0" / name
    for bad in (f"/x/tmp/../{name}", f"/x/blobs/pod-0/{name}", "/x/tmp/pod-0/secret", f"/x/tmp/../tmp/{name}",
                "/x/tmp/pod-0/fill-zz", f"tmp/.hidden/{name}"):
        assert layout.fill_tmp(bad) is None, bad
