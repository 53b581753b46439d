"""Fixtures for the web pages: requests in given states, logged-in clients, a headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from gateway import pipelines, services
from tests.gateway.helpers import submit_and_run

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.fixture
def awaiting(people: dict[str, Any], policy_version: Any) -> Any:
    request = submit_and_run(people["requester"], policy_version, size=6)
    assert request.state == "awaiting_approval", request.state_reason
    return request


@pytest.fixture
def released(people: dict[str, Any], policy_version: Any) -> Any:
    request = submit_and_run(people["requester"], policy_version, size=5, seed=3)
    services.dataset_request_approve(request=request, actor=people["approver"], reason="looks fine")
    pipelines.release_execute(request_id=request.pk)
    request.refresh_from_db()
    assert request.state == "released"
    return request


@pytest.fixture
def client_for() -> Any:
    def make(user: Any, language: str = "en") -> Client:
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        client.force_login(user)
        return client

    return make


def _browser_missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path, what in ((CHROMIUM, "Chromium"), (CHROMEDRIVER, "chromedriver")):
        if not Path(path).is_file():
            return f"{what} not found at {path} (apt-get install -y chromium chromium-driver)"
    return ""


@pytest.fixture
def browser_factory() -> Iterator[Any]:
    """Start headless Chromium sessions (one per user); each has its own fresh profile."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(f"browser tests need a local Chromium: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[str] = []

    def start(language: str = "en", width: int = 1280, height: int = 900) -> Any:
        profile = tempfile.mkdtemp(prefix="synthgate-chromium-")
        profiles.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                    f"--lang={language}"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Full-page height so the whole page is in the artefact.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(height + 100, 600), 4000))
    driver.save_screenshot(str(path))
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a headless Chromium against the live server")
