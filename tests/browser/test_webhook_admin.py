"""In the Django admin a webhook's secret is nowhere on its page; "Replace the secret" makes a new one, which
the project's manager then reads on the Webhooks page the admin's message links."""

import pytest

from labeling.models import Webhook
from labeling.services.webhooks import webhook_create
from tests.conftest import require_browser
from tests.labeling.version_helpers import text_project

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback_webhooks"),
]


def test_a_webhooks_secret_is_replaced_in_the_admin_and_read_on_the_webhooks_page(live_server, page, login, manager):
    require_browser()
    manager.is_staff = manager.is_superuser = True
    manager.save()
    hook = webhook_create(project=text_project(manager), url="http://127.0.0.1:9/hook", user=manager)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/admin/labeling/webhook/{hook.pk}/change/")
    assert hook.secret not in page.content()
    page.get_by_label("Replace the secret").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    new = Webhook.objects.get(pk=hook.pk).secret
    assert new != hook.secret and new not in page.content()
    message = page.locator(".messagelist .warning")
    assert "A new secret signs its deliveries from now on" in message.inner_text()
    with page.expect_navigation():
        message.get_by_role("link", name="Webhooks page").click()
    page.get_by_text("show").first.click()
    assert page.get_by_text(new).is_visible()
