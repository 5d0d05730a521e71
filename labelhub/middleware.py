"""Request checks that hold for the API and the pages alike, the Content-Security-Policy header, and the
browser-only middleware (session, user, messages) left out of token-authenticated API calls, and the
health check a container orchestrator or load balancer asks, and WhiteNoise's static files."""

import http.client
import logging
import os

from csp import middleware as csp_middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.core.files import uploadhandler
from django.core.signals import setting_changed
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.html import escape
from whitenoise.middleware import WhiteNoiseMiddleware

from labelhub.api import (
    DATABASE_UNREACHABLE_MESSAGE,
    DATABASE_UNREACHABLE_RETRY_SECONDS,
    database_unreachable_logged,
    is_database_unreachable,
)
from labelhub.parsers import NUL_MESSAGE, form_nul_paths

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    """``GET /healthz``: 200 "ok" when this process answers and reaches the database, 503 naming the
    failure otherwise. First in MIDDLEWARE, before the host check and the HTTPS redirect: a probe from
    inside the container (docker/compose.yaml) or from a load balancer asks by address over plain HTTP,
    and would get a 400 for its Host header or a redirect instead of an answer. It says nothing about
    the instance but whether it works."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != HEALTH_PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            logger.warning("health check: the database does not answer: %s", exc)
            return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's, without its "No directory at" warning for a STATIC_ROOT that does not exist while the
    finders serve the app folders (without STATIC_MANIFEST): STATIC_ROOT is then only where `collectstatic`
    would write, nothing to serve, and the settings no longer create it on every import to keep WhiteNoise
    quiet (a worker, a migration, a test run made an empty var/staticfiles, or wherever STATIC_ROOT said)."""

    def add_files(self, root, prefix=None):
        if self.use_finders and root == self.static_root and not os.path.isdir(root):
            return
        super().add_files(root, prefix)


def request_body_limit() -> int:
    """The longest request body LabelHub reads: the largest upload (an import, ``LABELHUB_MAX_IMPORT_BYTES``)
    and room for the form's other fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    return settings.LABELHUB_MAX_IMPORT_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


SIGNED_OUT_FORM_BYTES = 64 * 1024


def signed_out_form_limit() -> int:
    """The longest body a signed-out visitor's form may send: ``SIGNED_OUT_FORM_BYTES``, or less when
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is set lower."""
    return min(SIGNED_OUT_FORM_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class RequestBodyMiddleware:
    """Refuse a body no view would take before any of it is read (Django writes each multipart file over
    ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to a temporary file as it parses, and the CSRF check and
    ``RefuseNulMiddleware`` parse a page's POST before anyone is signed in):

    - a ``Content-Length`` over ``request_body_limit()``: 413 naming the limit;
    - a POST to a page (not ``/api/``, whose views authenticate before they read a body) by a client
      without a signed-in session, to a page that needs one: the sign-in page it would be sent to
      (``login_required``'s redirect, with ``next``), its body never read; to an address that is no page,
      a 404. Only the pages a signed-out visitor fills in are marked ``login_not_required`` (sign-in,
      password reset, the first account, an invitation's sign-up, sign-out, the admin's sign-in).
    - a body sent to one of those by a signed-out client over ``signed_out_form_limit()`` (64 KB: their
      fields are a name, an address, passwords, a token) is refused with a 413 before it is read (the
      CSRF check parses it, up to 10 MB and its fields held in memory three times over: about 40 MB a
      request). A multipart one within it has its files skipped as it is parsed, never written: no page
      takes a file from a signed-out visitor (the Import page sends its files to the API). It is still
      parsed: the CSRF check reads the form, and clients send them as multipart too.

    After the session middleware (it reads the session, not the user: no query beyond the session's).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = request.path.startswith("/api/")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads such a body as empty
        limit = request_body_limit()
        if length > limit:
            detail = (
                f"The request body is {length:,} bytes, over the limit of {limit:,} bytes (LABELHUB_MAX_IMPORT_BYTES "
                "and room for the form's fields): split the upload."
            )
            if is_api:
                return JsonResponse({"detail": detail}, status=413)
            return _page(413, "Request too large", detail)
        if is_api or request.method != "POST" or _signed_in(request):
            return self.get_response(request)
        view = _view_of(request)
        if view is None:
            return _page(404, "Not found", "There is no page at this address.")
        if getattr(view, "login_required", True):
            # what login_required answers, before the CSRF and NUL checks read the body
            return redirect_to_login(request.get_full_path())
        limit = signed_out_form_limit()
        if length > limit:
            return _page(
                413,
                "Request too large",
                f"The request body is {length:,} bytes, over the limit of {limit:,} bytes for a signed-out "
                "visitor's form (pages take files only from a signed-in user).",
            )
        if request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/"):
            request.upload_handlers = [_SkipFiles()]
        return self.get_response(request)


class _SkipFiles(uploadhandler.FileUploadHandler):
    """Reads past every file of a multipart body: nothing is kept, in memory or on disk."""

    def new_file(self, *args, **kwargs):
        raise uploadhandler.SkipFile

    def receive_data_chunk(self, raw_data, start):
        return None

    def file_complete(self, file_size):
        return None


def _view_of(request):
    """The view the request's path resolves to (with the slash CommonMiddleware would add), else None."""
    for path in (request.path_info, request.path_info + "/"):
        try:
            return resolve(path).func
        except Resolver404:
            continue
    return None


def _signed_in(request) -> bool:
    session = getattr(request, "session", None)
    return session is not None and session.get(SESSION_KEY) is not None


def _page(status, title, text):
    """The short page a middleware answers a refused request of a page with (no view, no template runs)."""
    return HttpResponse(
        f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p>"
        '<p><a href="/">Home</a></p>',
        status=status,
    )


class DatabaseUnreachableMiddleware:
    """A page asked while the database (or PgBouncer in front of it) restarts: 503 with Retry-After and a
    sentence saying so, as the API answers (``labelhub.api.is_database_unreachable``), not Django's bare
    "Server Error (500)", which reads as a bug to report. Last in MIDDLEWARE, so its ``process_exception``
    is asked first; the page is written here, as no template that reads the database may run."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_unreachable(exception):
            return None
        database_unreachable_logged(request, exception)
        response = _page(503, "The database could not be reached", DATABASE_UNREACHABLE_MESSAGE)
        response["Retry-After"] = str(DATABASE_UNREACHABLE_RETRY_SECONDS)
        return response


class RefuseNulMiddleware:
    """Answer 400 to a NUL character (``%00``) in the path, a query parameter or a page's form field.

    No view can use one: PostgreSQL refuses NUL in text, so it would surface as a 500 wherever the
    value reaches a query. API bodies are checked by the API's parsers (``labelhub.parsers``); this
    reads a form body only for pages, whose POSTs Django's CSRF check parses anyway.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        fields = []
        if "\x00" in request.path:
            fields.append("path")
        fields += form_nul_paths(request.GET)
        is_api = request.path.startswith("/api/")
        if not fields and not is_api and request.method == "POST":
            fields += form_nul_paths(request.POST, request.FILES)
        if not fields:
            return self.get_response(request)
        if is_api:
            detail = "Invalid input: " + "; ".join(f"{field}: {NUL_MESSAGE}" for field in fields)
            return JsonResponse({"detail": detail, **{field: [NUL_MESSAGE] for field in fields}}, status=400)
        return _page(400, "Bad request", f"{', '.join(fields)}: {NUL_MESSAGE}.")


# (header, its setting, the response attribute that exempts a response from it)
_CSP_HEADERS = (
    (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt"),
    (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro"),
)
# What a view or decorator (csp_update, csp_replace, ...) sets on a response to change its policy.
_CSP_OVERRIDES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
_csp_static = {}  # header -> (policy text, excluded path prefixes), built from the settings once


def _csp_static_policy(header, setting):
    try:
        return _csp_static[header]
    except KeyError:
        policy = build_policy(report_only=header == HEADER_REPORT_ONLY)
        excluded = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
        _csp_static[header] = policy, excluded
        return policy, excluded


@receiver(setting_changed)
def _csp_settings_changed(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _csp_static.clear()


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, with the policy of the settings built once per process instead of on
    every response (with the dataclass copies around it, 5 % of an answer's CPU in the labeling loop).
    A response with a policy of its own (``csp_update`` and the like) or whose page used a nonce goes
    through django-csp's code; every other gets the same headers, under the same conditions."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _CSP_OVERRIDES
        ):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND):
            return response
        for header, setting, exempt in _CSP_HEADERS:
            policy, excluded = _csp_static_policy(header, setting)
            if (
                policy
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(excluded)
            ):
                response[header] = policy
        # As django-csp: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


def is_token_api_call(request):
    """Whether the request is an API call that authenticates with a token and carries no cookie at all.

    For such a request the browser middleware has nothing to do: with no cookie there is no session to
    load (the user it would give is anonymous) and no stored message; and an ``Authorization: Token``
    header is all DRF reads (``TokenAuthentication`` comes first and either authenticates the token or
    answers 401; the session is never consulted). The API views keep every check of their own: the
    token, the user's role in the project. Setting up the session, the lazy user and the message
    storage on every answer of the labeling loop, for nothing, cost 0.15-0.3 ms of CPU (of ~3 ms in
    Django and LabelHub, benchmarks/labeling_profile.py). Django's CSRF middleware stays as it is, for
    ``check --deploy`` and because it costs next to nothing here: DRF's views are exempt from it, and
    with no cookie it has nothing to read.
    """
    token = getattr(request, "_token_api_call", None)  # the three middleware ask in turn
    if token is None:
        request._token_api_call = token = (
            "HTTP_COOKIE" not in request.META
            and request.path_info.startswith("/api/")
            and request.META.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
        )
    return token


class SessionMiddleware(sessions_middleware.SessionMiddleware):
    """Django's, left out of token API calls (``is_token_api_call``)."""

    def __call__(self, request):
        if is_token_api_call(request):
            return self.get_response(request)
        return super().__call__(request)


async def _anonymous_user():
    return AnonymousUser()


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, left out of token API calls: their ``request.user`` is anonymous (what a request without
    a session cookie gets) until DRF's token authentication sets the token's user."""

    def __call__(self, request):
        if is_token_api_call(request):
            request.user = AnonymousUser()
            request.auser = _anonymous_user
            return self.get_response(request)
        return super().__call__(request)


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Django's, left out of token API calls (the API adds no messages)."""

    def __call__(self, request):
        if is_token_api_call(request):
            return self.get_response(request)
        return super().__call__(request)
