from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from proxy.cli.commands import _parser, load_settings
from proxy.config import Settings, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.cache_dir, s.http_allow) == ("127.0.0.1", 8080, Path(".modelmanager-cache"), ())
    assert s.embedded
    assert s.redis_url is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMANAGER_PORT", "9999")
    monkeypatch.setenv("MODELMANAGER_HTTP_ALLOW", "huggingface.co, *.hf.co")
    monkeypatch.setenv("MODELMANAGER_SENDFILE", "false")
    monkeypatch.setenv("MODELMANAGER_REDIS_URL", "redis://user:hunter2pw@r:6379/0")
    s = Settings()
    assert (s.port, s.http_allow, s.sendfile) == (9999, ("huggingface.co", "*.hf.co"), False)
    assert "hunter2pw" not in repr(s), "credentials in URLs are masked"
    assert not s.embedded


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMANAGER_PORT", "9999")
    args = _parser().parse_args(["serve", "--port", "7000", "--http-allow", "a.com", "--http-allow", "b.com,c.com",
                                 "--no-sendfile", "--event-loop", "uvloop"])
    s = load_settings(args)
    assert (s.port, s.http_allow, s.sendfile, s.event_loop) == (7000, ("a.com", "b.com", "c.com"), False, "uvloop")


def test_every_setting_has_a_flag() -> None:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    help_text = sub.choices["serve"].format_help()
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in help_text


@pytest.mark.parametrize(("name", "value"), [("port", "70000"), ("node_id", "../evil"), ("log_level", "loud"),
                                            ("azure_account_key", "not base64!"), ("gcs_endpoint", "ftp://x"),
                                            ("azure_credentials", "maybe")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"MODELMANAGER_{name.upper()}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_configuration_doc_is_generated_from_the_settings() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == render_markdown(), "run `make docs`"
