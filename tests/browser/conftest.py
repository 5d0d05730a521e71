"""Shared browser fixtures: Debian's Chromium driven by Playwright's sync API, a page per test, a login
helper. Use them with pytest-django's ``live_server`` (which needs ``transactional_db``); call
``tests.conftest.require_browser()`` first in every browser test.

    @pytest.mark.browser
    def test_something(live_server, page, login, labeler):
        require_browser()
        login(page, live_server, labeler)
        page.goto(live_server.url + "/")
"""

import contextlib
import os
import signal
import sys
import threading

import pytest

# Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests make around
# it are ordinary synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
# The features Playwright's launch disables (playwright 1.65's `chromiumSwitches`, some of which keep the
# browser off the network): Chromium reads only the last --disable-features it is given, so ours repeats
# them (tests/browser/test_chromium_flags.py checks the list against the installed Playwright's).
PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
]
# Headless Chromium builds every window's address-bar popup as a WebUI page in a renderer of its own, for
# a popup no test opens: a third of the browser's CPU through the browser tests.
UNUSED_FEATURES = ["WebUIOmniboxPopup", "WebUIOmniboxFullPopup", "WebUIOmniboxAimPopup"]
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=" + ",".join([*PLAYWRIGHT_DISABLED_FEATURES, *UNUSED_FEATURES]),
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def playwright_session():
    from tests.conftest import require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


# Playwright's input actions (a key press, a mouse move) wait on the browser without a timeout: a Chromium
# that stops answering would hold the suite until CI's limit. A test's watchdog kills the browser after
# this long (its pending call then fails, naming the test), and the next test launches a new one.
BROWSER_TEST_SECONDS = 300


class Chromium:
    """The session's Chromium, launched again when a watchdog had to kill the one before."""

    def __init__(self, playwright):
        self.playwright = playwright
        self.browser = None

    def get(self):
        if self.browser is None or not self.browser.is_connected():
            self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        return self.browser

    def close(self):
        if self.browser is not None and self.browser.is_connected():
            self.browser.close()


def chromium_processes():
    """This process's descendants that run Chromium (read from /proc: Linux only, as the suite is)."""
    children = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            if "chromium" in os.readlink(f"/proc/{pid}/exe"):
                found.append(pid)
        except OSError:
            continue
    return found


def kill_chromium(test):
    pids = chromium_processes()
    sys.stderr.write(f"\n{test}: the browser did not answer for {BROWSER_TEST_SECONDS} s; killing it ({pids})\n")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser(playwright_session):
    """One Chromium for the session (Debian's, never a downloaded one), launched again if it was killed."""
    chromium = Chromium(playwright_session)
    yield chromium
    chromium.close()


@pytest.fixture
def new_page(browser, request):
    """``new_page()`` opens a page in a fresh context (its own cookies): one per user in a test;
    ``new_page(**options)`` with Playwright's context options (a phone's viewport and touch screen)."""
    contexts = []
    watchdog = threading.Timer(BROWSER_TEST_SECONDS, kill_chromium, args=[request.node.nodeid])
    watchdog.daemon = True
    watchdog.start()

    def open_page(**options):
        # options: the context's own (a phone: viewport, has_touch, is_mobile, device_scale_factor)
        context = browser.get().new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.errors = []
        return page

    yield open_page
    try:
        for context in contexts:  # a renderer that never goes idle can hold this too: still watched
            try:
                context.close()
            except Exception:  # its browser was killed by the watchdog: the test has failed already
                if browser.browser.is_connected():
                    raise
    finally:
        watchdog.cancel()


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


def pytest_collection_modifyitems(config, items):
    """A browser test that fails is run once more, in a new page (and a new browser if it was killed);
    the run's summary lists it as rerun. Two machines' worth of CI on two shared cores make rare timing
    slips; a test that fails twice fails the run. ``-p no:rerunfailures`` shows each failure at once."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=1))
