"""The Django admin never shows a webhook's secret: it signs the deliveries, and whoever reads it can forge one
that the receiver trusts. As in the app, where the secret is made at random and replaced with
``new_secret``, the admin replaces it with a new random one (shown to the project's managers on its
Webhooks page) and never takes one typed in. Deliveries are the record of what was sent: shown, never
added or edited, deleted once finished."""

import hashlib
import hmac
import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from labeling.choices import DeliveryStatus
from labeling.models import Webhook, WebhookDelivery
from labeling.services.webhooks import webhook_create, webhook_delivery_attempt, webhooks_notify
from tests.conftest import make_user
from tests.labeling.version_helpers import text_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_webhooks")]


@pytest.fixture
def hook(manager, receiver_factory):
    return webhook_create(project=text_project(manager), url=receiver_factory().url, user=manager)


@pytest.fixture
def viewer_client(db):
    """A staff member who may only view webhooks and their deliveries."""
    user = make_user("auditor")
    user.is_staff = True
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_webhook", "view_webhookdelivery"], content_type__app_label="labeling"
        )
    )
    client = Client()
    client.force_login(user)
    return client


def _form(webhook, **changes):
    """The webhook's change form as the admin draws it (no secret field), with ``changes``."""
    data = {
        "project": webhook.project_id,
        "url": webhook.url,
        "events": json.dumps(webhook.events),
        "active": "on" if webhook.active else "",
    }
    return {key: value for key, value in {**data, **changes}.items() if value != ""}


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_no_admin_page_shows_a_webhooks_secret(who, request, hook):
    client = request.getfixturevalue(who)
    for url in ["/admin/labeling/webhook/", f"/admin/labeling/webhook/{hook.pk}/change/"]:
        response = client.get(url)
        assert response.status_code == 200
        assert hook.secret not in response.content.decode(), url
    assert hook.secret not in client.get("/admin/labeling/webhook/add/").content.decode()


def test_saving_a_webhook_in_the_admin_keeps_its_secret(admin_client, hook):
    response = admin_client.post(f"/admin/labeling/webhook/{hook.pk}/change/", _form(hook, active=""))
    assert response.status_code == 302
    saved = Webhook.objects.get(pk=hook.pk)
    assert (saved.active, saved.secret) == (False, hook.secret)


def test_a_secret_typed_into_the_admin_is_not_taken(admin_client, hook):
    admin_client.post(f"/admin/labeling/webhook/{hook.pk}/change/", _form(hook, secret="chosen-by-a-visitor"))
    assert Webhook.objects.get(pk=hook.pk).secret == hook.secret


def test_a_secret_replaced_in_the_admin_signs_the_next_deliveries(admin_client, hook, receiver_factory):
    response = admin_client.post(
        f"/admin/labeling/webhook/{hook.pk}/change/", _form(hook, new_secret="on"), follow=True
    )
    page = response.content.decode()
    new = Webhook.objects.get(pk=hook.pk).secret
    assert len(new) == 64 and new != hook.secret
    assert new not in page
    assert "A new secret signs its deliveries from now on" in page
    assert f"/projects/{hook.project_id}/webhooks/" in page  # where the project's managers read it
    receiver = receiver_factory()
    Webhook.objects.filter(pk=hook.pk).update(url=receiver.url)
    (delivery,) = webhooks_notify(project=hook.project, event="version.ready", payload={"version": 1})
    webhook_delivery_attempt(delivery_id=delivery.pk)
    (sent,) = receiver.requests
    expected = "sha256=" + hmac.new(new.encode(), sent["body"], hashlib.sha256).hexdigest()
    assert sent["headers"]["X-LabelHub-Signature"] == expected


def test_a_webhook_added_in_the_admin_gets_a_random_secret_it_does_not_show(admin_client, manager, receiver_factory):
    project = text_project(manager)
    data = {"project": project.pk, "url": receiver_factory().url, "events": '["version.ready"]', "active": "on"}
    response = admin_client.post("/admin/labeling/webhook/add/", data, follow=True)
    assert response.status_code == 200
    (webhook,) = Webhook.objects.all()
    assert len(webhook.secret) == 64 and webhook.created_by.username == "admin"
    assert webhook.secret not in response.content.decode()


@pytest.fixture
def delivery(hook):
    (delivery,) = webhooks_notify(project=hook.project, event="version.ready", payload={"version": 1})
    return delivery


def test_a_delivery_is_shown_and_never_edited_or_added_in_the_admin(admin_client, delivery):
    url = f"/admin/labeling/webhookdelivery/{delivery.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    edited = {"webhook": delivery.webhook_id, "event": "version.ready", "payload": "{}", "status": "succeeded"}
    assert admin_client.post(url, {**edited, "attempts": 1, "response_status": 200}).status_code == 403
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PENDING
    assert admin_client.get("/admin/labeling/webhookdelivery/add/").status_code == 403
    assert admin_client.post("/admin/labeling/webhookdelivery/add/", edited).status_code == 403
    assert WebhookDelivery.objects.count() == 1


def test_a_delivery_is_deleted_in_the_admin_once_finished(admin_client, delivery):
    url = f"/admin/labeling/webhookdelivery/{delivery.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert f"Nothing was deleted: delivery {delivery.pk} is pending" in response.content.decode()
    data = {"action": "delete_selected", "_selected_action": [delivery.pk], "post": "yes"}
    response = admin_client.post("/admin/labeling/webhookdelivery/", data, follow=True)
    assert f"Nothing was deleted: delivery {delivery.pk} is pending" in response.content.decode()
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SUCCEEDED
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"url": "http://10.0.0.1/hook"}, "10.0.0.1"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "169.254.169.254"),
        ({"url": "ftp://example.org/hook"}, "only http:// and https://"),
        ({"url": "example.org/hook"}, "this one has no scheme"),
        ({"events": "[]"}, "This field is required"),
        ({"events": '["version.ready", "nonsense"]'}, "a non-empty list of events"),
    ],
)
def test_the_admin_refuses_a_webhook_the_app_would_refuse(admin_client, hook, changes, named):
    """Saved in the admin, a webhook skipped the app's checks: a private or link-local address (the cloud's
    metadata service) waited for the delivery's own check, and an empty events list was a webhook sent
    nothing. The form answers the app's message on the field and nothing changes (no address is contacted:
    the addresses are literals)."""
    before = (hook.url, hook.events)
    response = admin_client.post(f"/admin/labeling/webhook/{hook.pk}/change/", _form(hook, **changes))
    assert response.status_code == 200
    assert named in response.content.decode()
    hook.refresh_from_db()
    assert (hook.url, hook.events) == before
