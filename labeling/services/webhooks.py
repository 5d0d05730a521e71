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
"""

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from labeling.models import DeliveryStatus, Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

EVENTS = ("version.ready", "drift.alert")
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
    return url


def _events_check(events):
    events = list(EVENTS) if events is None else events
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise ValidationError({"events": f"a non-empty list of events among: {', '.join(EVENTS)}"})
    return sorted(set(events))


def webhook_create(*, project, url, user, events=None) -> Webhook:
    """Add a webhook with a new random secret (64 hex characters)."""
    return Webhook.objects.create(
        project=project,
        url=webhook_url_check(url),
        events=_events_check(events),
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
        webhook.events = _events_check(events)
    if new_secret:
        webhook.secret = secrets.token_hex(32)
    webhook.save()
    return webhook


def webhook_delete(*, webhook):
    webhook.delete()


def webhooks_notify(*, project, event, payload) -> list[WebhookDelivery]:
    """Create one delivery per active webhook of the project that wants ``event``, and queue each once the
    surrounding transaction commits (so a rolled-back publish never announces anything)."""
    from labeling.tasks import webhook_deliver

    hooks = [w for w in Webhook.objects.filter(project=project, active=True) if event in w.events]
    deliveries = [WebhookDelivery.objects.create(webhook=w, event=event, payload=payload) for w in hooks]
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: webhook_deliver.delay(pk))
    return deliveries


def webhook_redeliver(*, delivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery (the page's "send again")."""
    from labeling.tasks import webhook_deliver

    fresh = WebhookDelivery.objects.create(webhook=delivery.webhook, event=delivery.event, payload=delivery.payload)
    transaction.on_commit(lambda: webhook_deliver.delay(fresh.pk))
    return fresh


def webhook_signature(*, secret, body: bytes) -> str:
    """The X-LabelHub-Signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_backoff(attempts) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: base × 2^(attempts − 1), at most an hour."""
    base = int(getattr(settings, "LABELHUB_WEBHOOK_RETRY_SECONDS", 30))
    return min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET elsewhere (possibly somewhere internal): answer it as is.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


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
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-LabelHub-Event": delivery.event,
            "X-LabelHub-Delivery": str(delivery.pk),
            "X-LabelHub-Signature": webhook_signature(secret=webhook.secret, body=body),
        },
    )
    status, text, error = None, "", ""
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status, text = response.status, response.read(1000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, (exc.read(1000) or b"").decode("utf-8", "replace")
        error = f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt, delivery.response_status, delivery.response_body, delivery.error = now, status, text, error
    retry_in = None
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.next_attempt = DeliveryStatus.SUCCEEDED, None
    elif (status is None or status >= 500 or status in RETRYABLE_STATUSES) and delivery.attempts < MAX_ATTEMPTS:
        retry_in = webhook_backoff(delivery.attempts)
        delivery.status, delivery.next_attempt = DeliveryStatus.RETRYING, now + timedelta(seconds=retry_in)
    else:
        delivery.status, delivery.next_attempt = DeliveryStatus.FAILED, None
    delivery.save()
    logger.info("webhook delivery %s to %s: %s (%s)", delivery.pk, webhook.url, delivery.status, status or error)
    return retry_in
