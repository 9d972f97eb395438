"""The ``hf`` CLI and transformers, unmodified, in their own processes with HF_ENDPOINT set to the proxy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.conftest import Proxy
from tests.fakes.fake_hub import FakeHub

BIN = Path(sys.executable).parent


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def client_env(proxy: Proxy, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=str(proxy.server.make_url("")).rstrip("/"), HF_HOME=str(home),
               HF_HUB_DISABLE_TELEMETRY="1", TRANSFORMERS_VERBOSITY="error", HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


async def test_hf_download_cli_for_a_dataset(start_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                             tmp_path: Path) -> None:
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url))
    data = os.urandom(300_000)
    hub.create("org/corpus", repo_type="dataset").commit({"data/train.parquet": data, "README.md": b"# corpus"})
    code, out = await run(client_env(proxy, tmp_path / "home"), str(BIN / "hf"), "download", "org/corpus",
                          "--repo-type", "dataset", "--local-dir", str(tmp_path / "out"))
    assert code == 0, out
    assert (tmp_path / "out" / "data" / "train.parquet").read_bytes() == data
    assert (tmp_path / "out" / "README.md").read_bytes() == b"# corpus"


async def test_transformers_autoconfig_and_tokenizer(start_proxy: Callable[..., Awaitable[Proxy]], hub: FakeHub,
                                                     tmp_path: Path) -> None:
    proxy = await start_proxy(hf_endpoint=str(hub.hub_url))
    config = {"model_type": "gpt2", "n_layer": 3, "n_head": 2, "n_embd": 16, "vocab_size": 10}
    vocab = {"<unk>": 0, "hello": 1, "world": 2}
    tokenizer: dict[str, object] = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
                 "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
                 "decoder": None, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}
    hub.create("org/tiny").commit({"config.json": json.dumps(config).encode(),
                                   "tokenizer.json": json.dumps(tokenizer).encode(),
                                   "tokenizer_config.json": b'{"tokenizer_class": "PreTrainedTokenizerFast"}'})
    script = ("from transformers import AutoConfig, AutoTokenizer\n"
              "c = AutoConfig.from_pretrained('org/tiny')\n"
              "t = AutoTokenizer.from_pretrained('org/tiny')\n"
              "print('RESULT', c.n_layer, t('hello world')['input_ids'])\n")
    code, out = await run(client_env(proxy, tmp_path / "home"), sys.executable, "-c", script)
    assert code == 0, out
    assert "RESULT 3 [1, 2]" in out
