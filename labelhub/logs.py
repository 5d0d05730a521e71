"""Logging helpers (see LOGGING in settings)."""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.utils.functional import SimpleLazyObject, empty


class ClientErrorsWithoutTraceback(logging.Filter):
    """Drop the traceback from records about a client's ordinary error: a refused permission (403), a
    missing page (404) or a suspicious request (400, e.g. a bad Host header). Django logs those with the
    exception attached; the one-line message (path, reason) is all an operator needs, and tracebacks
    are kept for real failures. The record itself is kept."""

    quiet = (PermissionDenied, Http404, SuspiciousOperation)

    def filter(self, record):
        if record.exc_info and isinstance(record.exc_info[1], self.quiet):
            record.exc_info = None
            record.exc_text = None
        return True


class RequestContext(logging.Filter):
    """Give every record a ``context``: for Django's request records (an error answered, a slow or refused
    request) the method and the signed-in user's id, so an operator can tell a GET from a POST and find
    the person who met the error; empty for the others."""

    def filter(self, record):
        request = getattr(record, "request", None)
        context = ""
        if request is not None and hasattr(request, "method"):
            context = f" [{request.method}{_who(request)}]"
        record.context = context
        return True


def _who(request) -> str:
    """ ", user 5", ", signed out", or "" when the request never looked its user up: reading it here would
    query the session (one more query per 404, or a second failure while logging a database error)."""
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return ""
    try:
        return f", user {user.pk}" if user.is_authenticated else ", signed out"
    except Exception:  # a log line must never fail
        return ""
