"""Request rates of the API per user (any of their tokens, or their session) and per anonymous address.

DRF's own throttles keep a list of every request time in the window and rewrite it on each request,
which at generous limits (thousands a minute) costs more than the labeling loop's queries. These count
in fixed windows instead: one cache counter per client and window, O(1) per request.
"""

from rest_framework import throttling


class FixedWindowMixin:
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{key}:{window}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first request
            count = 1 if self.cache.add(key, 1, self.duration + 1) else self.cache.incr(key)
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return self._wait


class UserRateThrottle(FixedWindowMixin, throttling.UserRateThrottle):
    """``LABELHUB_API_RATE_USER`` requests per signed-in user (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"]``)."""


class AnonRateThrottle(FixedWindowMixin, throttling.AnonRateThrottle):
    """``LABELHUB_API_RATE_ANON`` requests per address without credentials (the token endpoint)."""
