"""Shared browser fixtures: Debian's Chromium driven by Playwright's sync API, a page per test, a login
helper. Use them with pytest-django's ``live_server`` (which needs ``transactional_db``); call
``tests.conftest.require_browser()`` first in every browser test.

    @pytest.mark.browser
    def test_something(live_server, page, login, labeler):
        require_browser()
        login(page, live_server, labeler)
        page.goto(live_server.url + "/")
"""

import os

import pytest

# Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests make around
# it are ordinary synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def playwright_session():
    from tests.conftest import require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_session):
    """One Chromium for the session: Debian's, never a downloaded one."""
    browser = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser):
    """``new_page()`` opens a page in a fresh context (its own cookies): one per user in a test."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.errors = []
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def login():
    """``login(page, live_server, user, password=None)`` logs in through the login form, keyboard only.

    The persona fixtures of tests/conftest.py have the password ``pw-<username>``.
    """

    def log_in(page, live_server, user, password=None):
        page.goto(f"{live_server.url}/login/")
        page.locator("input[name=username]").focus()
        page.keyboard.type(user.username)
        page.keyboard.press("Tab")
        page.keyboard.type(password or f"pw-{user.username}")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "/login/" not in page.url, f"could not log in as {user.username}"
        return page

    return log_in
