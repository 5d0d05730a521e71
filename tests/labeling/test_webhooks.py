"""Webhooks: http(s) URLs only, signed deliveries to a local receiver, retries with backoff, the log."""

import hashlib
import hmac
import json

import pytest

from labeling.models import WebhookDelivery
from labeling.services.webhooks import (
    MAX_ATTEMPTS,
    webhook_backoff,
    webhook_create,
    webhook_delivery_attempt,
    webhooks_notify,
)
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

# The receivers below listen on 127.0.0.1; test_webhook_targets.py checks that loopback is refused by default.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_webhooks")]


@pytest.fixture
def project(manager):
    return text_project(manager)


def notify(project, payload=None):
    return webhooks_notify(project=project, event="version.ready", payload=payload or {"version": 1})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "only http:// and https:// URLs are accepted (this one has 'ftp:')"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("example.com/hook", "this one has no scheme"),
        ("http://", "is not a valid http(s) URL"),
        ("", "url: This field may not be blank"),
    ],
)
def test_only_http_urls_are_accepted(api, manager, project, url, message):
    response = api(manager).post(f"/api/projects/{project.pk}/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_webhook_api(api, manager, reviewer, project, receiver_factory):
    from labeling.choices import Role
    from labeling.services.projects import member_add

    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    base = f"/api/projects/{project.pk}/webhooks/"
    created = api(manager).post(base, {"url": "https://ci.example.com/labelhub"}, format="json")
    assert created.status_code == 201
    hook = created.json()
    assert len(hook["secret"]) == 64 and set(hook["events"]) == {"version.ready", "version.purged", "drift.alert"}
    assert hook["active"]
    patched = api(manager).patch(f"{base}{hook['id']}/", {"active": False, "new_secret": True}, format="json")
    assert patched.json()["active"] is False and patched.json()["secret"] != hook["secret"]
    bad = api(manager).patch(f"{base}{hook['id']}/", {"url": "file:///etc/passwd"}, format="json")
    assert bad.status_code == 400
    # misspelt fields were dropped: "activ": false left the webhook active, "evnts" sent every event
    misspelt = api(manager).patch(f"{base}{hook['id']}/", {"activ": True}, format="json")
    assert misspelt.status_code == 400 and "activ" in misspelt.json()
    assert api(manager).get(f"{base}{hook['id']}/").json()["active"] is False
    created = api(manager).post(base, {"url": "https://ci.example.com/b", "evnts": ["drift.alert"]}, format="json")
    assert created.status_code == 400 and "evnts" in created.json()
    assert api(manager).get(f"{base}{hook['id']}/deliveries/").json()["count"] == 0
    assert api(reviewer).get(base).status_code == 403
    assert api(manager).delete(f"{base}{hook['id']}/").status_code == 204
    assert api(manager).get(base).json()["count"] == 0


def test_delivery_is_signed_with_the_secret(manager, project, receiver_factory):
    receiver = receiver_factory()
    hook = webhook_create(project=project, url=receiver.url, user=manager)
    (delivery,) = notify(project, {"version": 3, "content_hash": "abc"})
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    (request,) = receiver.requests
    body = request["body"]
    expected = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
    assert request["headers"]["X-LabelHub-Signature"] == expected
    assert request["headers"]["X-LabelHub-Event"] == "version.ready"
    assert request["headers"]["X-LabelHub-Delivery"] == str(delivery.pk)
    assert json.loads(body)["data"] == {"version": 3, "content_hash": "abc"}
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.response_status == 200


def test_failures_are_retried_with_exponential_backoff(manager, project, receiver_factory, settings):
    settings.LABELHUB_WEBHOOK_RETRY_SECONDS = 10
    assert [webhook_backoff(n) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    receiver = receiver_factory([503, 500, 200])
    webhook_create(project=project, url=receiver.url, user=manager)
    (delivery,) = notify(project)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 10
    delivery.refresh_from_db()
    assert delivery.status == "retrying" and delivery.response_status == 503 and delivery.next_attempt
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 20
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert {r["headers"]["X-LabelHub-Delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_a_client_error_is_not_retried_and_a_dead_host_is(manager, project, receiver_factory):
    receiver = receiver_factory([410])
    webhook_create(project=project, url=receiver.url, user=manager)
    (delivery,) = notify(project)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "410" in delivery.error
    receiver.close()
    (again,) = notify(project)
    assert webhook_delivery_attempt(delivery_id=again.pk) is not None  # connection refused: try later
    again.refresh_from_db()
    assert again.status == "retrying" and again.response_status is None and again.error


def test_the_task_gives_up_after_max_attempts(manager, project, receiver_factory):
    from labeling.tasks import webhook_deliver

    receiver = receiver_factory([500])
    webhook_create(project=project, url=receiver.url, user=manager)
    (delivery,) = notify(project)
    webhook_deliver.apply(args=[delivery.pk])  # eager: each retry runs at once
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_published_version_is_announced(manager, project, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory()
    hook = webhook_create(project=project, url=receiver.url, user=manager)
    disabled = webhook_create(project=project, url=receiver.url, user=manager)
    disabled.active = False
    disabled.save()
    items = add_texts(project, ["a", "b"])
    (a,) = labelers(project, 1)
    answer(items[0], a, "cat")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        version = build(project, manager)
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.webhook == hook and callbacks
    assert delivery.payload["version"] == 1 and delivery.payload["content_hash"] == version.content_hash
    assert delivery.payload["url"].endswith(f"/api/projects/{project.pk}/versions/1/")
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert json.loads(receiver.requests[0]["body"])["data"]["version"] == 1


def test_a_webhook_can_subscribe_to_drift_alerts(api, manager, project):
    response = api(manager).post(
        f"/api/projects/{project.pk}/webhooks/",
        {"url": "https://hooks.example.org/labelhub", "events": ["version.ready", "drift.alert"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert set(response.json()["events"]) == {"version.ready", "drift.alert"}
    bad = api(manager).post(
        f"/api/projects/{project.pk}/webhooks/", {"url": "https://x.example.org", "events": ["party"]}, format="json"
    )
    assert bad.status_code == 400


def test_the_log_names_the_delivery_and_host_but_not_the_url_s_secret_path(manager, project, receiver_factory, caplog):
    receiver = receiver_factory([200, 410])
    webhook = webhook_create(project=project, url=receiver.url + "/T0/B0/s3cr3t-t0ken", user=manager)
    (delivered,) = notify(project)
    (refused,) = notify(project)
    with caplog.at_level("INFO", logger="labeling.services.webhooks"):
        webhook_delivery_attempt(delivery_id=delivered.pk)
        webhook_delivery_attempt(delivery_id=refused.pk)
    ok, failed = caplog.records
    assert "s3cr3t" not in caplog.text
    assert ok.levelname == "INFO" and ok.getMessage() == (
        f"webhook delivery {delivered.pk} (webhook {webhook.pk}, project {project.pk}, version.ready) "
        f"to http://127.0.0.1:{receiver.server.server_port}: succeeded after 1 attempt(s) (200)"
    )
    # Given up on: the receiver will never see this event.
    assert failed.levelname == "WARNING" and "failed after 1 attempt(s) (410)" in failed.getMessage()


def test_a_webhook_registered_again_is_the_one_registered(api, manager, project):
    """A script that lost the 201 retries: one webhook, so every event is delivered once, not twice."""
    from labeling.models import Webhook

    url = f"/api/projects/{project.pk}/webhooks/"
    body = {"url": "https://hooks.example.org/labelhub", "events": ["version.ready", "drift.alert"]}
    first = api(manager).post(url, body, format="json")
    assert first.status_code == 201, first.json()
    again = api(manager).post(url, {**body, "events": ["drift.alert", "version.ready"]}, format="json")
    assert again.status_code == 200 and again.json() == first.json()
    assert Webhook.objects.filter(project=project).count() == 1
    other = api(manager).post(url, {**body, "events": ["version.ready"]}, format="json")  # other events: another
    assert other.status_code == 201 and Webhook.objects.filter(project=project).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_webhook_registered_twice_at_once_is_registered_once(api, manager, project):
    """A double click, or a retry sent while the first request was still on its way: both found no such
    webhook and both added one (four from a dozen parallel requests through PgBouncer), and every event
    was then delivered as many times. The second now waits for the first and answers its webhook."""
    import threading

    from labeling.models import Webhook
    from tests.concurrency import in_a_thread, run_together, skip_unless_postgresql, slow_inserts

    skip_unless_postgresql()
    url = f"/api/projects/{project.pk}/webhooks/"
    body = {"url": "https://hooks.example.org/labelhub", "events": ["version.ready"]}
    both_ready, statuses, errors = threading.Barrier(2), [], []

    def register():
        both_ready.wait(timeout=10)
        statuses.append(api(manager).post(url, body, format="json").status_code)

    # each webhook row takes half a second to insert: the two requests meet
    with slow_inserts(Webhook._meta.db_table):
        still_running = run_together([in_a_thread(register, errors=errors) for _ in range(2)])
    assert not still_running and not errors, errors
    assert sorted(statuses) == [200, 201]
    assert Webhook.objects.filter(project=project).count() == 1


def test_the_webhooks_page_sent_twice_adds_one_webhook(client, manager, project):
    """The Add button clicked twice (or the form sent again from the browser's history) added the same
    webhook twice, and each event went out twice."""
    from labeling.models import Webhook

    client.force_login(manager)
    for _ in range(2):
        response = client.post(f"/projects/{project.pk}/webhooks/", {"url": "https://hooks.example.org/labelhub"})
        assert response.status_code == 302
    assert Webhook.objects.filter(project=project).count() == 1
