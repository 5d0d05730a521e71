"""Throttling of failed sign-ins, kept in Django's cache and checked before any password is hashed.

Failures are counted in three scopes, each over ``LABELHUB_SIGNIN_LOCKOUT_SECONDS``:

- a username from one client address (``LABELHUB_SIGNIN_FAILURES``, strict): stops guessing one
  account's password without locking its owner out everywhere;
- a username from any address (``LABELHUB_SIGNIN_USER_FAILURES``, looser): stops guessing spread over
  many addresses;
- an address whatever the username (``LABELHUB_SIGNIN_ADDRESS_FAILURES``, looser): stops one client
  trying one password on many accounts.

A scope that reaches its limit is locked for ``LABELHUB_SIGNIN_LOCKOUT_SECONDS``; while any scope of an
attempt is locked the attempt is refused without looking at the password (no hash is computed), and the
caller answers 429 with ``Retry-After``. A successful sign-in clears its own username + address count
only, so an attacker's failures elsewhere are not forgiven by it.
"""

import hashlib
import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """The client's address as DRF's throttles see it (``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry
    ``LABELHUB_TRUSTED_PROXIES`` hops back), IPv6 widened to its /64 (one client's usual allocation)."""
    ident = BaseThrottle().get_ident(request) or ""
    try:
        address = ipaddress.ip_address(ident.strip("[]"))
    except ValueError:
        return ident[:64]
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _scopes(username: str, address: str | None) -> list[tuple[str, int]]:
    """(cache key, failure limit) of each scope an attempt belongs to."""

    def digest(value):  # cache keys of a fixed alphabet and length, whatever a username holds
        return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    user = digest(username.casefold())
    scopes = [(f"signin:user:{user}", settings.LABELHUB_SIGNIN_USER_FAILURES)]
    if address:
        scopes.append((f"signin:pair:{user}:{digest(address)}", settings.LABELHUB_SIGNIN_FAILURES))
        scopes.append((f"signin:addr:{digest(address)}", settings.LABELHUB_SIGNIN_ADDRESS_FAILURES))
    return scopes


def signin_wait(*, username: str, address: str | None) -> int:
    """Seconds until an attempt for ``username`` from ``address`` may be made; 0 when it may be now."""
    return _wait(_scopes(username, address))


def signin_failed(*, username: str, address: str | None) -> None:
    """Count a failed attempt in each scope, locking the scopes that reach their limit."""
    _count(_scopes(username, address), settings.LABELHUB_SIGNIN_LOCKOUT_SECONDS)


def _count(scopes, window) -> None:
    """Count one in each scope's window, locking the scopes that reach their limit for ``window``."""
    now = time.time()
    for key, limit in scopes:
        if cache.add(key, 1, window):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, window)
                count = 1
        if limit and count >= limit:
            cache.set(key + ":until", now + window, window)


def _wait(scopes) -> int:
    now = time.time()
    until = max(cache.get_many([key + ":until" for key, _ in scopes]).values(), default=0)
    return math.ceil(until - now) if until > now else 0


def signin_succeeded(*, username: str, address: str | None) -> None:
    """Forget this username's failures from this address (the other scopes keep theirs)."""
    pair = [key for key, _ in _scopes(username, address) if key.startswith("signin:pair:")]
    cache.delete_many(pair)


def signin_forget_user(*, username: str) -> None:
    """Lift the username-wide count and lock (after a password reset proved control of the mailbox)."""
    key = _scopes(username, None)[0][0]
    cache.delete_many([key, key + ":until"])


# --- e-mail sent on request ------------------------------------------------------------------------------
# The same counters (cache, fixed windows, a lock once a scope reaches its limit) for the mails anyone can
# make the server send: password-reset links (anonymous: per e-mail address asked for, whether or not an
# account has it, and per client address) and invitations (per inviter and per project).


class TooManyMails(Exception):
    """A mail refused by its limit: ``wait`` seconds until one may be asked for again, ``message`` says so."""

    def __init__(self, message: str, wait: int):
        super().__init__(message)
        self.message, self.wait = message, wait


def wait_text(wait: int) -> str:
    """``wait`` seconds as a person reads them: "45 seconds", "15 minutes"."""
    return f"{wait} seconds" if wait < 60 else f"{math.ceil(wait / 60)} minutes"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _mail_sent(scopes, what: str) -> None:
    """Count one mail in ``scopes``, or raise TooManyMails (not counted) while any of them is locked."""
    wait = _wait(scopes)
    if wait:
        raise TooManyMails(f"Too many {what}: try again in {wait_text(wait)}.", wait)
    _count(scopes, settings.LABELHUB_MAIL_WINDOW_SECONDS)


def reset_mail_sent(*, email: str, address: str | None) -> None:
    """Count a password-reset request for ``email`` from ``address``; TooManyMails past a limit."""
    scopes = [(f"mail:reset:email:{_digest(email.strip().casefold())}", settings.LABELHUB_RESET_EMAIL_MAILS)]
    if address:
        scopes.append((f"mail:reset:addr:{_digest(address)}", settings.LABELHUB_RESET_ADDRESS_MAILS))
    _mail_sent(scopes, "password-reset e-mails asked for")


def invitation_mail_sent(*, inviter_id: int | None, project_id: int) -> None:
    """Count an invitation mail by ``inviter_id`` in ``project_id``; TooManyMails past a limit."""
    limit = settings.LABELHUB_INVITATION_MAILS
    scopes = [(f"mail:invite:project:{project_id}", limit)]
    if inviter_id is not None:
        scopes.append((f"mail:invite:user:{inviter_id}", limit))
    _mail_sent(scopes, "invitations sent")
