"""Webhooks: a project's URLs told when something happens (a dataset version is ready).

Each delivery is a POST of a JSON body ``{"event", "delivery", "created", "data"}`` with the headers

* ``X-LabelHub-Event``: the event (``version.ready``);
* ``X-LabelHub-Delivery``: the delivery id — the same on every retry, so receivers can drop repeats;
* ``X-LabelHub-Signature``: ``sha256=<hex>``, the HMAC-SHA256 of the raw body with the webhook's secret.

A receiver checks the signature with ``hmac.compare_digest(header, "sha256=" + hmac.new(secret,
body, hashlib.sha256).hexdigest())``. A 2xx answer is success. A network error, a timeout, a 408, 429 or
5xx answer is retried by the Celery task with exponential backoff (LABELHUB_WEBHOOK_RETRY_SECONDS × 2^n,
30 s by default, at most an hour apart) up to MAX_ATTEMPTS attempts; other answers (4xx, redirects,
which are never followed) fail at once. Every attempt is logged on the delivery row. Delivery is at
least once: a redelivered task message may send the same delivery twice.

Server-side request forgery: a webhook URL is chosen by a project manager, and the worker that sends it
sits inside the deployment's network. So the host is resolved and every address it names must be a
public one — loopback, private, link-local (cloud metadata), multicast, reserved and unspecified
addresses are refused, an IPv6 address carrying an IPv4 one (mapped, 6to4, NAT64) judged by it —
when the webhook is saved and again at each delivery (DNS can change), and the
request goes to the very address that was checked (no second lookup, no proxy, no redirects). Only the
status code and a fixed summary of what happened are stored, never the receiver's body or an error text
that could echo it. A team running receivers on its own network lists those networks in
LABELHUB_WEBHOOK_ALLOWED_NETWORKS (CIDR, comma-separated; empty by default).
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from labeling.choices import DeliveryStatus
from labeling.models import Webhook, WebhookDelivery
from labeling.services.jobs import WEBHOOK_TASK, project_lock, task_send_on_commit

logger = logging.getLogger(__name__)

EVENTS = ("version.ready", "version.purged", "drift.alert")
MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10
MAX_BACKOFF_SECONDS = 3600
RETRYABLE_STATUSES = {408, 429}
USER_AGENT = "LabelHub-Webhooks/1"


def webhook_url_check(url) -> str:
    """The URL, stripped, if it is an absolute http(s) URL; ValidationError saying what is wrong otherwise."""
    url = (url or "").strip()
    if not url:
        raise ValidationError({"url": "a URL is required"})
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{scheme}:'" if scheme else "no scheme"
        raise ValidationError({"url": f"only http:// and https:// URLs are accepted (this one has {shown})"})
    if len(url) > 500:
        raise ValidationError({"url": "the URL is longer than 500 characters"})
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": f"'{url}' is not a valid http(s) URL"}) from None
    try:
        webhook_addresses(url)
    except WebhookTargetRefused as exc:
        raise ValidationError({"url": str(exc)}) from None
    except WebhookTargetUnresolved:
        # A name that does not resolve yet (a receiver still being set up, split DNS) is kept: every
        # delivery resolves it again and checks what it names before sending anything.
        pass
    return url


class WebhookTargetRefused(Exception):
    """The URL names an address webhooks may not reach (loopback, private, link-local...)."""


class WebhookTargetUnresolved(Exception):
    """The URL's host name did not resolve."""


def _allowed_networks():
    return [ipaddress.ip_network(net, strict=False) for net in settings.LABELHUB_WEBHOOK_ALLOWED_NETWORKS]


# NAT64's well-known prefix (RFC 6052): 64:ff9b::10.0.0.1 goes out over IPv4 to 10.0.0.1 through a NAT64 gateway
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not reachable on the internet (IANA's special-purpose registries), though Python before 3.11.10 and 3.12.4
# counts them as global: IETF protocol assignments (DS-Lite, NAT64 discovery...) and IPv6 documentation.
NON_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("3fff::/20"))


def _embedded_ipv4(address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one sends to: mapped (::ffff:10.0.0.1), 6to4 (2002:a00:1::) or NAT64
    (64:ff9b::a00:1); None for any other."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def _address_refusal(address) -> str | None:
    """Why webhooks may not reach ``address`` (an ipaddress object), or None when they may. An IPv6
    address that carries an IPv4 one is judged by it: ::ffff:127.0.0.1 is loopback too, and a 6to4
    address (2002:a00:1::) goes out over IPv4 to the address it embeds (10.0.0.1) from a host with a
    6to4 tunnel, though Python counts every 2002::/16 address as global; a NAT64 address (64:ff9b::a00:1)
    through a NAT64 gateway (a public receiver's name answered by DNS64 is one: allowed)."""
    address = _embedded_ipv4(address) or address
    if any(address in net for net in _allowed_networks()):
        return None
    # Most specific first: Python counts link-local and loopback among the private addresses too.
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if getattr(address, "is_site_local", False):  # fec0::/10, IPv6's old private range, "global" to Python
        return "site-local"
    if any(address in net for net in NON_PUBLIC):
        return "non-public"
    if not address.is_global:  # shared address space (100.64/10), documentation ranges, NAT64...
        return "non-public"
    return None


def _resolve(host, port) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order (the one place that asks DNS)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookTargetUnresolved(f"the host name '{host}' does not resolve") from None
    return list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))


def webhook_addresses(url) -> list[str]:
    """The IP addresses the URL's host resolves to, all of which webhooks may reach.

    Raises WebhookTargetRefused naming the first address that is refused (a name that resolves to one
    public and one private address is refused: the resolver could hand out either), and
    WebhookTargetUnresolved when the name does not resolve."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookTargetRefused("the URL's port is not a number between 0 and 65535") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    found = [str(literal)] if literal is not None else _resolve(host, port)
    for address in found:
        ip = ipaddress.ip_address(address)
        refusal = _address_refusal(ip)
        if refusal:
            if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour:
                address = f"{address} (6to4 for {ip.sixtofour})"
            elif ip in NAT64:
                address = f"{address} (NAT64 for {_embedded_ipv4(ip)})"
            named = f"'{host}', which resolves to {address}," if literal is None else f"{address},"
            raise WebhookTargetRefused(
                f"webhooks may not be sent to {named} {'an' if refusal[0] in 'aeiou' else 'a'} {refusal} address "
                "(a server administrator can allow a network with LABELHUB_WEBHOOK_ALLOWED_NETWORKS)"
            )
    return found


def webhook_events_check(events):
    events = list(EVENTS) if events is None else events
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise ValidationError({"events": f"a non-empty list of events among: {', '.join(EVENTS)}"})
    return sorted(set(events))


def _registered(project, url, events, active):
    """The project's webhook of this (checked) URL, events and active flag, if any (the API answers it to a
    second registration: a client retrying one whose answer it lost made a second webhook, and every event
    was then delivered twice)."""
    for webhook in Webhook.objects.filter(project=project, url=url, active=bool(active)).order_by("id"):
        if sorted(webhook.events) == events:
            return webhook
    return None


def webhook_register(*, project, url, user, events=None, active=True) -> tuple[Webhook, bool]:
    """The project's webhook of this URL, events and active flag: the one registered (False), else a new
    one (True). The look and the insert happen under the project's row lock, so two registrations sent at
    once (a double click, a retry while the first was on its way) make one webhook, not two that each
    receive every event. The URL is checked (its host resolved) before the lock is taken."""
    url, events = webhook_url_check(url), webhook_events_check(events)
    with transaction.atomic():
        project_lock(project.pk)
        same = _registered(project, url, events, active)
        if same is not None:
            return same, False
        webhook = webhook_create(project=project, url=url, events=events, user=user)
        if not active:
            webhook = webhook_update(webhook=webhook, active=False)
        return webhook, True


def webhook_create(*, project, url, user, events=None) -> Webhook:
    """Add a webhook with a new random secret (64 hex characters)."""
    return Webhook.objects.create(
        project=project,
        url=webhook_url_check(url),
        events=webhook_events_check(events),
        secret=secrets.token_hex(32),
        created_by=user,
    )


def webhook_update(*, webhook, url=None, active=None, events=None, new_secret=False) -> Webhook:
    """Change a webhook's URL, events or active flag; ``new_secret`` replaces its secret."""
    if url is not None:
        webhook.url = webhook_url_check(url)
    if active is not None:
        webhook.active = bool(active)
    if events is not None:
        webhook.events = webhook_events_check(events)
    if new_secret:
        webhook.secret = secrets.token_hex(32)
    webhook.save()
    return webhook


def webhook_delete(*, webhook):
    webhook.delete()


def webhooks_notify(*, project, event, payload) -> list[WebhookDelivery]:
    """Create one delivery per active webhook of the project that wants ``event``, and queue each once the
    surrounding transaction commits (so a rolled-back publish never announces anything)."""
    hooks = [w for w in Webhook.objects.filter(project=project, active=True) if event in w.events]
    deliveries = [WebhookDelivery.objects.create(webhook=w, event=event, payload=payload) for w in hooks]
    for delivery in deliveries:
        task_send_on_commit(WEBHOOK_TASK, delivery.pk)
    return deliveries


def webhook_redeliver(*, delivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery (the page's "send again")."""
    fresh = WebhookDelivery.objects.create(webhook=delivery.webhook, event=delivery.event, payload=delivery.payload)
    task_send_on_commit(WEBHOOK_TASK, fresh.pk)
    return fresh


def webhook_signature(*, secret, body: bytes) -> str:
    """The X-LabelHub-Signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_backoff(attempts) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: base × 2^(attempts − 1), at most an hour."""
    base = int(getattr(settings, "LABELHUB_WEBHOOK_RETRY_SECONDS", 30))
    return min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address already checked, whatever the host name resolves to now (no
    second lookup for a rebinding DNS server to answer differently)."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is still verified against the URL's host name."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(url, *, address, body, headers) -> int:
    """POST ``body`` to ``url`` at ``address``; answer the status code. Redirects are answered as they
    come (never followed): a redirect would send the request somewhere nobody checked. The response
    body is never read into anything kept."""
    parts = urlsplit(url)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, parts.port, address=address, timeout=TIMEOUT_SECONDS)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _failure_summary(exc) -> str:
    """A fixed description of a failed attempt. Never the exception's text: a non-HTTP service's
    answer would be echoed in it (http.client puts the first line it read in BadStatusLine)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not valid for the host"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, http.client.HTTPException):
        return "the receiver did not answer with HTTP"
    return "connection failed"


def _body(delivery):
    return json.dumps(
        {
            "event": delivery.event,
            "delivery": delivery.pk,
            "created": delivery.created.isoformat(),
            "data": delivery.payload,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def webhook_delivery_attempt(*, delivery_id) -> int | None:
    """Send a delivery once; record the outcome; answer the seconds to wait before the next attempt, or
    None when there is nothing more to do (delivered, failed for good, gone, or the webhook disabled)."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
        return None
    webhook = delivery.webhook
    if not webhook.active:
        delivery.status, delivery.error = DeliveryStatus.FAILED, "the webhook was disabled"
        delivery.save(update_fields=["status", "error"])
        return None
    body = _body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-LabelHub-Event": delivery.event,
        "X-LabelHub-Delivery": str(delivery.pk),
        "X-LabelHub-Signature": webhook_signature(secret=webhook.secret, body=body),
    }
    status, error, refused = None, "", False
    try:
        address = webhook_addresses(webhook.url)[0]
    except WebhookTargetRefused as exc:
        error, refused = f"not sent: {exc}", True
    except WebhookTargetUnresolved as exc:
        error = f"not sent: {exc}"
    else:
        try:
            status = _post(webhook.url, address=address, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            error = _failure_summary(exc)
        else:
            if not 200 <= status < 300:
                error = f"HTTP {status}"
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt, delivery.response_status, delivery.error = now, status, error
    retry_in = None
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.next_attempt = DeliveryStatus.SUCCEEDED, None
    elif refused:
        delivery.status, delivery.next_attempt = DeliveryStatus.FAILED, None
    elif (status is None or status >= 500 or status in RETRYABLE_STATUSES) and delivery.attempts < MAX_ATTEMPTS:
        retry_in = webhook_backoff(delivery.attempts)
        delivery.status, delivery.next_attempt = DeliveryStatus.RETRYING, now + timedelta(seconds=retry_in)
    else:
        delivery.status, delivery.next_attempt = DeliveryStatus.FAILED, None
    delivery.save()
    # The receiver's host only: the rest of a webhook URL is often its credential (a chat service's
    # https://hooks.example/services/T0/B0/<secret>, or user:password@), and logs travel further than the
    # database. A delivery given up on is a warning: events the receiver will never see.
    parts = urlsplit(webhook.url)
    target = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    logger.log(
        logging.WARNING if delivery.status == DeliveryStatus.FAILED else logging.INFO,
        "webhook delivery %s (webhook %s, project %s, %s) to %s: %s after %s attempt(s) (%s)",
        delivery.pk,
        webhook.pk,
        webhook.project_id,
        delivery.event,
        target,
        delivery.status,
        delivery.attempts,
        status or error,
    )
    return retry_in
