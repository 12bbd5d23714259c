"""Fixtures of the browser tests: one real platform per module, Debian's Chromium, a screenshot folder per test.

The platform is `manage.py runplatform` (web, worker and beat, as `./karenctl
start` runs them) on the embedded stack, with a private var folder and a
private extensions folder holding tests/browser/fixtures/. Screenshots of every
page a test visits are kept in var/screenshots/<test name>/NN-<what>.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.conftest import ROOT
from tests.servers import free_port
from tests.test_runplatform import Platform

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCREENSHOTS = ROOT / "var" / "screenshots"
# Debian's package: Playwright drives it as it is, nothing is downloaded (`./karenctl test` installs it).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}


class RunningPlatform:
    """The started platform as a test uses it: its address, the admin login, its HTTP API."""

    def __init__(self, platform: Platform, folder: Path) -> None:
        self.platform = platform
        self.folder = folder
        self.url = f"http://127.0.0.1:{platform.port}"
        self.password = (folder / "var" / "admin-password.txt").read_text().strip()
        self._token = ""

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        """Call the platform's HTTP API as the admin, with a token."""
        if not self._token:
            answer = requests.post(
                f"{self.url}/api/auth/token", json={"username": "admin", "password": self.password}, timeout=10
            )
            answer.raise_for_status()
            self._token = answer.json()["token"]
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        return requests.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Iterator[RunningPlatform]:
    """Web (one gunicorn worker), worker (concurrency 1) and beat on a free port; stopped by Ctrl-C to its pid."""
    folder = tmp_path_factory.mktemp("control-room")
    extensions = folder / "extensions"
    for fixture in FIXTURES.iterdir():
        shutil.copytree(fixture, extensions / fixture.name, ignore=shutil.ignore_patterns("__pycache__"))
    # Platform passes this process's environment on (minus DATABASE_URL and REDIS_URL: the embedded stack).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KAREN_EXTENSION_DIRS", str(extensions))
        patch.setenv("KAREN_ENTRY_POINTS", "false")
        platform = Platform(folder, free_port())
    try:
        status = platform.wait_until_ready()
        assert status == 200, f"the platform did not start:\n{platform.output}"
        yield RunningPlatform(platform, folder)
        os.killpg(platform.process.pid, signal.SIGINT)
        platform.wait_for_exit(timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the platform did not stop within 45 s of Ctrl-C:\n{platform.output[-4000:]}")
    finally:
        platform.kill_leftovers()
        (folder / "platform.log").write_text(platform.output)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests drive Debian's Chromium; install it with "
            "`apt-get install chromium` (as root), or run them through ./karenctl test, which does"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGUMENTS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def admin_session(platform: RunningPlatform, browser: Browser) -> dict:
    """The cookies of an admin logged in through the login form, shared by the tests' browser contexts."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{platform.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", platform.password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{platform.url}/admin/")
    state = context.storage_state()
    context.close()
    return state


class Console:
    """What pages printed as errors in the browser console, and scripts that failed (a CSP refusal is one)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _message(self, message: ConsoleMessage) -> None:
        source = message.location.get("url", "")
        # The browser asks for /favicon.ico by itself; the site has none (404), which no page asked for.
        if message.type == "error" and not source.endswith("/favicon.ico"):
            self.errors.append(f"{message.text} ({source})")


@pytest.fixture
def console() -> Console:
    return Console()


def new_page(context: BrowserContext, console: Console) -> Page:
    context.set_default_timeout(15_000)
    page = context.new_page()
    console.watch(page)
    return page


@pytest.fixture
def anonymous_page(browser: Browser, console: Console) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    yield new_page(context, console)
    context.close()


@pytest.fixture
def page(browser: Browser, admin_session: dict, console: Console) -> Iterator[Page]:
    """A page of a browser context logged in as the admin."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=admin_session)
    yield new_page(context, console)
    context.close()


class Screenshots:
    """Full-page screenshots numbered in the order taken: NN-<what>.png."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, page: Page, what: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{what}.png"
        page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def screenshots(request) -> Screenshots:
    """var/screenshots/<test name>/, emptied first so that it holds this run's pictures only."""
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Screenshots(folder)
