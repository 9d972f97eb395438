"""The dashboard in headless Chromium against ``modelmanager serve``, with a throttled download in flight.

Chromium is Debian's (``make browser`` installs it); Playwright drives it. The page's screenshot is
saved to ``test-artifacts/dashboard.png``. The page gets the admin token the proxy generated on its
volume through the URL fragment, as an operator would open it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright
from yarl import URL

from proxy.artifacts.key import Manifest
from proxy.credentials import ADMIN_TOKEN, read_secret
from proxy.digest import Digest
from tests.deploy.tools import missing
from tests.e2e.test_cli import free_port, wait_healthy
from tests.fakes.fake_http import FakeUpstream

BIN = Path(sys.executable).parent / "modelmanager"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SIZE = 3_000_000
RATE = 400_000  # bytes per second: the fill takes about 7.5 s, several dashboard polls


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("chromium", "run `make browser` (installs Debian's chromium package)")
    assert found is not None
    return found


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[URL, str]]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", "--port", str(port), "--cache-dir", str(tmp_path / "cache"), "--node-id", "ui-node",
        "--http-allow", "127.0.0.1", "--log-level", "warning")
    url = URL(f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(url, proc)
        token = read_secret(tmp_path / "cache", ADMIN_TOKEN)
        assert token is not None
        yield url, token
    finally:
        proc.terminate()
        await proc.wait()


async def test_dashboard_shows_a_fill_progressing(served: tuple[URL, str], upstream: tuple[FakeUpstream, URL]
                                                  ) -> None:
    browser_path = chromium()
    served_url, token = served
    fake, base = upstream
    body = os.urandom(SIZE)
    fake.add("/slow/model.safetensors", body, rate=RATE, chunk=32 * 1024)
    fetch = (served_url / "v1/fetch").with_query(url=str(base / "slow/model.safetensors"))

    async def download() -> bytes:
        async with aiohttp.ClientSession() as session, session.get(fetch) as response:
            assert response.status == 200
            return await response.read()

    downloading = asyncio.create_task(download())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            response = await page.goto(f"{served_url}/#token={token}")  # `/` from a browser is the dashboard
            assert response is not None
            assert response.status == 200
            await page.wait_for_function("() => location.hash === ''", timeout=15_000)
            assert token not in page.url, "the page takes the token out of its address"
            row = page.locator("#fills tr[data-fill-key]")
            await row.first.wait_for(timeout=15_000)
            assert "/slow/model.safetensors" in await row.first.locator("td.key").inner_text()
            written = page.locator("#fills .fill-written").first
            first = int(await written.get_attribute("data-written") or "0")
            assert 0 < first < SIZE
            await page.wait_for_function(
                "before => { const e = document.querySelector('#fills .fill-written');"
                " return e !== null && Number(e.dataset.written) > before; }", arg=first, timeout=15_000)
            second = int(await written.get_attribute("data-written") or "0")
            assert first < second < SIZE
            assert f"/ {SIZE / 2**20:.1f} MiB" in await written.inner_text()
            assert "no quota" in await page.locator("#cache-quota").inner_text()
            assert "ui-node (this pod)" in await page.locator("#nodes").inner_text()
            assert await page.locator("#pinned-empty").is_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            assert await downloading == body
            await page.locator("#fills-empty").wait_for(state="visible", timeout=15_000)
            assert await page.locator("#fills tr[data-fill-key]").count() == 0
            assert await page.locator("#hit-ratio").inner_text() == "0.0 %"
        finally:
            await browser.close()
            downloading.cancel()


async def test_dashboard_lists_a_stored_artifact(served: tuple[URL, str]) -> None:
    browser_path = chromium()
    served_url, token = served
    body = os.urandom(5000)
    data = {"sources": [f"blake3:{'a' * 64}"], "target": {"gpu": "H200", "cuda": "13.0"},
            "recipe": {"name": "tensorrt", "options": {"fp16": True}}, "names": ["model.onnx"]}
    key = Manifest.model_validate({k: v for k, v in data.items() if k != "names"}).key.hex
    headers = {"Authorization": f"Bearer {token}", "X-MM-Artifact-Manifest": json.dumps(data),
               "X-MM-Artifact-Digest": str(Digest.of(body))}
    async with aiohttp.ClientSession() as session, \
            session.put(served_url / "v1/artifacts" / key, data=body, headers=headers) as response:
        assert response.status == 201
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, headless=True,
                                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            await page.goto(f"{served_url}/ui#token={token}")
            row = page.locator(f"#artifacts tr[data-artifact-key='{key}']")
            await row.wait_for(timeout=15_000)
            text = await row.inner_text()
            assert "tensorrt" in text
            assert "gpu=H200" in text
            assert "model.onnx" in text
            assert "stored" in text
            assert "1 stored" in await page.locator("#artifacts-summary").inner_text()
        finally:
            await browser.close()
