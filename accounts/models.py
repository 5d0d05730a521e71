"""API tokens: several per user (one per machine client), stored as SHA-256 digests of their keys."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models


def key_digest(key: str) -> str:
    """The stored form of a token key: its SHA-256 in hex. Keys are random (256 bits), so no salt or
    slow hash is needed, and the lookup stays one indexed equality."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    # The first characters of the key, shown so a user can tell their tokens apart; never the key.
    prefix = models.CharField(max_length=12)
    created = models.DateTimeField()
    expires = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def expires_at(self):
        """When the token stops working, or None: its own expiry, or ``LABELHUB_TOKEN_TTL_SECONDS`` after
        its creation when that is set (also for tokens made before the setting was), whichever is first."""
        ttl = settings.LABELHUB_TOKEN_TTL_SECONDS
        by_ttl = self.created + timedelta(seconds=ttl) if ttl else None
        return min((t for t in (self.expires, by_ttl) if t is not None), default=None)
