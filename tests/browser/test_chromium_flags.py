"""The suite's Chromium: no page of its own beside the tests' pages, and Playwright's own switches kept.

Headless Chromium built every window's address-bar popup as a WebUI page (chrome://omnibox-popup...) in a
renderer of its own, for a popup no test opens: a third of the browser's CPU through the browser tests."""

import re
from pathlib import Path

import playwright
import pytest

from tests.browser.conftest import CHROMIUM_ARGS, PLAYWRIGHT_DISABLED_FEATURES, UNUSED_FEATURES
from tests.conftest import require_browser


def playwright_disabled_features():
    """The features the installed Playwright's launch disables, read from its driver's bundle."""
    bundle = Path(playwright.__file__).parent / "driver" / "package" / "lib" / "coreBundle.js"
    found = re.search(r"disabledFeatures = \[(.*?)\]", bundle.read_text(), re.S)
    assert found, f"no disabledFeatures list in {bundle}"
    return re.findall(r'^\s*"([A-Za-z]+)",?\s*$', found.group(1), re.M)


def test_our_disable_features_keeps_every_feature_playwright_disables():
    """Chromium reads only the last --disable-features: ours must repeat Playwright's (some keep the
    browser off the network) after an upgrade of Playwright too."""
    theirs = playwright_disabled_features()
    assert len(theirs) > 5
    assert set(theirs) <= set(PLAYWRIGHT_DISABLED_FEATURES)
    flags = [arg for arg in CHROMIUM_ARGS if arg.startswith("--disable-features=")]
    assert len(flags) == 1
    assert set(flags[0].split("=", 1)[1].split(",")) == {*PLAYWRIGHT_DISABLED_FEATURES, *UNUSED_FEATURES}


@pytest.mark.browser
def test_a_page_of_the_suite_is_the_browsers_only_page(browser, page):
    require_browser()
    page.goto("data:text/html,<p>one page</p>")
    session = browser.get().new_browser_cdp_session()
    try:
        targets = session.send("Target.getTargets")["targetInfos"]
    finally:
        session.detach()
    assert [(t["type"], t["url"]) for t in targets if t["type"] != "service_worker"] == [
        ("page", "data:text/html,<p>one page</p>")
    ]
