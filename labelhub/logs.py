"""Logging helpers (see LOGGING in settings)."""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404


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
