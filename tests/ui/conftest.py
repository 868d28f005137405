"""Fixtures of the cockpit tests: the demo region behind a real server, and Debian's chromium (headless,
a fresh profile per browser, nothing downloaded) driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cockpitkit import PASSWORD, Cockpit, build, prepare, serve

CHROMIUM = os.environ.get("HEALTHBRAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}


@pytest.fixture(scope="session")
def cockpit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cockpit]:
    settings, resources, truth = build(tmp_path_factory.mktemp("cockpit"))
    app, server, thread, base = serve(settings)
    try:
        yield prepare(app, base, resources, truth)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser_for(playwright_driver: object, cockpit: Cockpit) -> Iterator[Callable[[str], object]]:
    """A signed-in browser per role (one profile each), created on first use and kept for the session."""
    contexts: dict[str, object] = {}
    dirs: list[str] = []

    def open_for(role: str) -> object:
        if role not in contexts:
            profile = tempfile.mkdtemp(prefix=f"hb-chromium-{role}-")
            dirs.append(profile)
            context = playwright_driver.chromium.launch_persistent_context(  # type: ignore[attr-defined]
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )
            context.set_default_timeout(60_000)  # generous: CI runs two workers on two cores
            sign_in(context.new_page(), cockpit, role)
            contexts[role] = context
        return contexts[role]

    yield open_for
    for context in contexts.values():
        context.close()  # type: ignore[attr-defined]
    for profile in dirs:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(page: object, cockpit: Cockpit, role: str) -> None:
    acc = cockpit.accounts[role]
    page.goto(f"{cockpit.base}/ui/login")  # type: ignore[attr-defined]
    page.fill("#username", acc.username)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.fill("#totp", acc.code())  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*/ui/$"))  # type: ignore[attr-defined]


@pytest.fixture
def page_of(browser_for: Callable[[str], object]) -> Iterator[Callable[[str], object]]:
    """A new tab in the role's browser (closed after the test)."""
    pages: list[object] = []

    def new(role: str) -> object:
        page = browser_for(role).new_page()  # type: ignore[attr-defined]
        pages.append(page)
        return page

    yield new
    for page in pages:
        page.close()  # type: ignore[attr-defined]
