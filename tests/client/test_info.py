"""DownloadInfo: providers by any spelling, the proxy from host or MODELMANAGER_URL, S3 keys."""

from __future__ import annotations

import pytest

from modelmanager_client import DownloadInfo
from modelmanager_client.info import Provider


@pytest.mark.parametrize(("text", "provider"), [("HuggingFace", Provider.HF), ("huggingface", Provider.HF),
                                                ("hf", Provider.HF), ("S3", Provider.S3), ("s3", Provider.S3),
                                                ("HTTP", Provider.HTTP), ("http", Provider.HTTP),
                                                ("GCS", Provider.GCS), ("gs", Provider.GCS),
                                                ("Azure", Provider.AZURE), ("az", Provider.AZURE)])
def test_provider_is_case_insensitive(text: str, provider: Provider) -> None:
    assert DownloadInfo("x", provider=text).kind is provider


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        _ = DownloadInfo("x", provider="ftp").kind


@pytest.mark.parametrize(("host", "base"), [("modelmanager-server", "http://modelmanager-server:8080"),
                                            ("mm:9000", "http://mm:9000"),
                                            ("https://mm.example/", "https://mm.example")])
def test_host_forms(host: str, base: str) -> None:
    assert DownloadInfo("org/m", "f", host=host).base == base


def test_host_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMANAGER_URL", "proxy.ns")
    assert DownloadInfo("org/m", "f").base == "http://proxy.ns:8080"
    monkeypatch.delenv("MODELMANAGER_URL")
    with pytest.raises(ValueError, match="MODELMANAGER_URL"):
        _ = DownloadInfo("org/m", "f").base


def test_s3_repo_is_bucket_and_prefix() -> None:
    info = DownloadInfo("models/llama/v1/", "sub/w.bin", provider="S3")
    assert info.s3_location() == ("models", "llama/v1")
    assert info.s3_key() == ("models", "llama/v1/sub/w.bin")
    assert DownloadInfo("models", "w.bin", provider="S3").s3_key() == ("models", "w.bin")


def test_store_urls_of_gcs_and_azure_files() -> None:
    assert DownloadInfo("bkt/llama", "w.bin", provider="gcs").store_url() == "gs://bkt/llama/w.bin"
    assert DownloadInfo("acct/models/llama/", "sub/w.bin", provider="azure").store_url() == \
        "az://acct/models/llama/sub/w.bin"
    assert DownloadInfo("models", "w.bin", provider="s3").store_url() == "s3://models/w.bin"
