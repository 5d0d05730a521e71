"""Webhooks cannot be turned against the deployment's own network (server-side request forgery).

Nothing here sends a packet anywhere but loopback: refused addresses are refused before any connection,
which ``no_connections`` checks by failing the test on any attempt to open a socket.
"""

import json
import socket
import threading

import pytest

from labeling.models import WebhookDelivery
from labeling.services import webhooks
from labeling.services.webhooks import webhook_create, webhook_delivery_attempt, webhooks_notify
from tests.labeling.version_helpers import text_project

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://127.0.0.1:6379/", "127.0.0.1, a loopback address"),
    ("http://localhost:8000/hook", "resolves to 127.0.0.1, a loopback address"),
    ("http://2130706433/", "is not a valid http(s) URL"),  # 127.0.0.1 as one number
    ("http://[::1]:8080/", "::1, a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
    ("http://10.1.2.3/", "10.1.2.3, a private address"),
    ("https://192.168.0.10/", "192.168.0.10, a private address"),
    ("http://172.16.5.4/", "172.16.5.4, a private address"),
    ("http://[fd00::1]/", "fd00::1, a private address"),
    ("http://0.0.0.0:5432/", "0.0.0.0, an unspecified address"),  # was "a unspecified"
    ("http://224.0.0.1/", "224.0.0.1, a multicast address"),
    ("http://100.64.0.1/", "100.64.0.1, a"),
    # 6to4 addresses carry an IPv4 address a host with a 6to4 tunnel sends to over IPv4; site-local
    # (fec0::/10) is the old private IPv6 range: Python counts both as global.
    ("http://[2002:a00:1::1]/", "2002:a00:1::1 (6to4 for 10.0.0.1), a private address"),
    ("http://[2002:7f00:1::]/", "(6to4 for 127.0.0.1), a loopback address"),
    ("http://[fec0::1]/", "fec0::1, a site-local address"),
    # NAT64 (64:ff9b::/96) goes out over IPv4 to the address it embeds, from a network with a NAT64 gateway
    ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1 (NAT64 for 10.0.0.1), a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "(NAT64 for 169.254.169.254), a link-local address"),
    ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1, a private address"),
    # IETF protocol assignments (192.0.0.0/24: DS-Lite, NAT64 discovery...) and IPv6 documentation (3fff::/20):
    # not reachable on the internet, though Python before 3.11.10 (3.12.4) counts them as global
    ("http://192.0.0.8/", "192.0.0.8, a non-public address"),
    ("http://[3fff::1]/", "3fff::1, a non-public address"),
    # 127.0.0.1 and 192.168.1.1 written as one number, in octal or hex, or shortened, as inet_aton reads them
    ("http://0x7f000001/", "is not a valid http(s) URL"),
    ("http://0177.0.0.1/", "is not a valid http(s) URL"),
    ("http://0x7f.0.0.1/", "is not a valid http(s) URL"),
    ("http://127.1/", "is not a valid http(s) URL"),
    ("http://3232235777/", "is not a valid http(s) URL"),
    ("http://0/", "is not a valid http(s) URL"),
]


@pytest.fixture
def project(manager):
    return text_project(manager)


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything tries to open a TCP connection."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def resolving(monkeypatch, answers):
    """Make host names resolve to ``answers`` (a list of address lists, one per lookup, the last repeated)."""
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return answers[min(len(lookups), len(answers)) - 1]

    monkeypatch.setattr(webhooks, "_resolve", resolve)
    return lookups


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_internal_addresses_are_refused_when_a_webhook_is_added(api, manager, project, no_connections, url, message):
    response = api(manager).post(f"/api/projects/{project.pk}/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert message in response.json()["detail"]
    assert not project.webhooks.exists() and not no_connections


def test_the_same_answer_whatever_the_port(api, manager, project, no_connections):
    """Refusal happens before any connection, so errors cannot tell open ports from closed ones."""
    details = {
        api(manager)
        .post(f"/api/projects/{project.pk}/webhooks/", {"url": f"http://10.0.0.1:{port}/"}, format="json")
        .json()["detail"]
        for port in (22, 80, 5432, 6379, 65000)
    }
    assert len(details) == 1 and not no_connections


def test_the_webhooks_page_refuses_internal_addresses(client, manager, project, no_connections):
    client.force_login(manager)
    response = client.post(f"/projects/{project.pk}/webhooks/", {"url": "http://169.254.169.254/"})
    assert "link-local address" in response.content.decode()
    assert not project.webhooks.exists()


def test_a_name_resolving_to_any_private_address_is_refused(api, manager, project, monkeypatch, no_connections):
    resolving(monkeypatch, [["93.184.216.34", "10.0.0.7"]])
    response = api(manager).post(
        f"/api/projects/{project.pk}/webhooks/", {"url": "https://hooks.example.com/x"}, format="json"
    )
    assert response.status_code == 400
    assert "'hooks.example.com', which resolves to 10.0.0.7, a private address" in response.json()["detail"]


def test_changing_the_url_is_checked_too(api, manager, project, monkeypatch, no_connections):
    resolving(monkeypatch, [["93.184.216.34"]])
    hook = webhook_create(project=project, url="https://hooks.example.com/x", user=manager)
    response = api(manager).patch(
        f"/api/projects/{project.pk}/webhooks/{hook.pk}/", {"url": "http://[::1]:6379/"}, format="json"
    )
    assert response.status_code == 400 and "loopback" in response.json()["detail"]
    hook.refresh_from_db()
    assert hook.url == "https://hooks.example.com/x"


def test_dns_that_changes_after_saving_is_caught_at_delivery(manager, project, monkeypatch, no_connections):
    """DNS rebinding: public when the webhook is saved, the metadata service when it is delivered."""
    lookups = resolving(monkeypatch, [["93.184.216.34"], ["169.254.169.254"]])
    webhook_create(project=project, url="http://hooks.example.com/x", user=manager)
    (delivery,) = webhooks_notify(project=project, event="version.ready", payload={"version": 1})
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None  # refused for good: no retry
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.response_status is None
    assert "169.254.169.254, a link-local address" in delivery.error
    assert lookups == ["hooks.example.com", "hooks.example.com"] and not no_connections


def test_delivery_goes_to_the_address_that_was_checked(
    manager,
    project,
    monkeypatch,
    receiver_factory,
    loopback_webhooks,
):
    """One lookup per attempt, and the connection goes to the address it answered (no second lookup that
    a rebinding DNS server could answer differently)."""
    receiver = receiver_factory()
    port = receiver.server.server_port
    lookups = resolving(monkeypatch, [["127.0.0.1"]])
    connected = []
    real_connect = socket.create_connection

    def connect(address, *args, **kwargs):
        connected.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)
    webhook_create(project=project, url=f"http://receiver.example.com:{port}/hooks", user=manager)
    lookups.clear()
    (delivery,) = webhooks_notify(project=project, event="version.ready", payload={"version": 1})
    webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert lookups == ["receiver.example.com"] and connected == [("127.0.0.1", port)]
    assert receiver.requests[0]["headers"]["Host"] == f"receiver.example.com:{port}"


def test_redirects_are_not_followed(manager, project, loopback_webhooks):
    """A 302 to the metadata service is recorded as a failure; nothing is sent to the new location."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        webhook_create(project=project, url=f"http://127.0.0.1:{server.server_port}/hook", user=manager)
        (delivery,) = webhooks_notify(project=project, event="version.ready", payload={"version": 1})
        webhook_delivery_attempt(delivery_id=delivery.pk)
    finally:
        server.shutdown()
        server.server_close()
    delivery.refresh_from_db()
    assert hits == ["/hook"] and delivery.status == "failed" and delivery.error == "HTTP 302"


def test_the_delivery_log_never_echoes_what_the_target_answered(api, manager, project, loopback_webhooks):
    """A service that is not an HTTP receiver (Redis, say) answers with its own data: none of it is kept."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer_like_redis():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"$30\r\nredis_version:7.0.15 secret=hunter2\r\n")

    threading.Thread(target=answer_like_redis, daemon=True).start()
    hook = webhook_create(project=project, url=f"http://127.0.0.1:{listener.getsockname()[1]}/", user=manager)
    (delivery,) = webhooks_notify(project=project, event="version.ready", payload={"version": 1})
    webhook_delivery_attempt(delivery_id=delivery.pk)
    listener.close()
    delivery.refresh_from_db()
    assert delivery.error == "the receiver did not answer with HTTP"
    log = api(manager).get(f"/api/projects/{project.pk}/webhooks/{hook.pk}/deliveries/").json()["results"]
    assert "hunter2" not in json.dumps(log) and "redis_version" not in json.dumps(log)
    assert "response_body" not in log[0]


def test_a_body_an_http_receiver_sends_back_is_not_stored(api, manager, project, receiver_factory, loopback_webhooks):
    receiver = receiver_factory([500])
    hook = webhook_create(project=project, url=receiver.url, user=manager)
    (delivery,) = webhooks_notify(project=project, event="version.ready", payload={"version": 1})
    webhook_delivery_attempt(delivery_id=delivery.pk)
    log = api(manager).get(f"/api/projects/{project.pk}/webhooks/{hook.pk}/deliveries/").json()["results"]
    assert log[0]["response_status"] == 500 and log[0]["error"] == "HTTP 500"
    assert "nope" not in json.dumps(log)  # what the receiver wrote in its body


def test_allowed_networks_let_a_team_reach_its_own_receivers(api, manager, project, settings, no_connections):
    settings.LABELHUB_WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    client = api(manager)
    base = f"/api/projects/{project.pk}/webhooks/"
    assert client.post(base, {"url": "http://10.20.3.4:9000/hook"}, format="json").status_code == 201
    outside = client.post(base, {"url": "http://10.21.3.4:9000/hook"}, format="json")
    assert outside.status_code == 400 and "private address" in outside.json()["detail"]
    assert WebhookDelivery.objects.count() == 0


def test_only_staff_or_users_given_the_right_create_projects(api, labeler, settings):
    from django.contrib.auth.models import Permission

    body = {"name": "Mine", "modality": "text", "classes": [{"key": "a"}, {"key": "b"}]}
    refused = api(labeler).post("/api/projects/", body, format="json")
    assert refused.status_code == 403 and "ask an administrator" in refused.json()["detail"]
    labeler.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="labeling"))
    assert api(labeler).post("/api/projects/", body, format="json").status_code == 201
    settings.LABELHUB_PROJECT_CREATORS = "everyone"
    from tests.conftest import make_user

    assert api(make_user("newcomer")).post("/api/projects/", body, format="json").status_code == 201


def test_staff_create_projects(api, outsider):
    outsider.is_staff = True
    outsider.save()
    body = {"name": "Staff's", "modality": "text", "classes": [{"key": "a"}, {"key": "b"}]}
    assert api(outsider).post("/api/projects/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (["::ffff:10.0.0.1"], "resolves to ::ffff:10.0.0.1, a private address"),
        (["64:ff9b::7f00:1"], "resolves to 64:ff9b::7f00:1 (NAT64 for 127.0.0.1), a loopback address"),
        (["0.0.0.0"], "resolves to 0.0.0.0, a"),
    ],
)
def test_a_name_resolving_to_an_internal_address_in_another_form_is_refused(
    api, manager, project, monkeypatch, no_connections, answer, message
):
    resolving(monkeypatch, [answer])
    response = api(manager).post(
        f"/api/projects/{project.pk}/webhooks/", {"url": "https://h.example.com/"}, format="json"
    )
    assert response.status_code == 400 and message in response.json()["detail"]


def test_a_receiver_reached_through_nat64_is_judged_by_the_ipv4_address_it_embeds(
    api, manager, project, monkeypatch, no_connections
):
    """On an IPv6-only network, DNS64 answers a public receiver's name with a 64:ff9b:: address: it was refused
    as 'reserved', whatever it embedded."""
    resolving(monkeypatch, [["64:ff9b::5db8:d822"]])  # 93.184.216.34
    response = api(manager).post(
        f"/api/projects/{project.pk}/webhooks/", {"url": "https://h.example.com/"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert not no_connections
