"""Pages of the project as a whole: error pages and the API documentation."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from labelhub.api import request_limit_error


def _is_api(request):
    return request.path.startswith("/api/")


def _reason(exception, default):
    """The exception's own sentence (the views raise them for people to read), else ``default``. A URL
    that matches no route carries the patterns tried, which are not shown."""
    message = exception.args[0] if exception is not None and exception.args else ""
    if isinstance(exception, Resolver404) or not isinstance(message, str) or not message:
        return default
    return message


def bad_request(request, exception=None):
    """400 for what Django refuses before a view runs (a query string or body over its size limits, a
    suspicious request): under /api/ in the API's error shape, naming the limit; Django's page elsewhere."""
    if _is_api(request):
        status, detail = request_limit_error(exception) or (400, "Bad request.")
        return JsonResponse({"detail": detail}, status=status)
    return defaults.bad_request(request, exception)


def server_error(request):
    """500: under /api/ in the API's error shape (clients parse ``detail``; Django's page is HTML)."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "The server failed to answer this request; the error is logged. Try again, or report it."},
            status=500,
        )
    return defaults.server_error(request)


def permission_denied(request, exception=None):
    """403: why, and a way home; the API's error shape under /api/."""
    reason = _reason(exception, "You do not have permission to do this.")
    if _is_api(request):
        return JsonResponse({"detail": reason}, status=403)
    # the advice to ask for a role fits a page that needs a role, not an archived project
    return render(request, "403.html", {"reason": reason, "about_role": " role" in reason}, status=403)


def page_not_found(request, exception=None):
    """404: what was not found, and a way home; the API's error shape under /api/."""
    if _is_api(request):
        return JsonResponse({"detail": _reason(exception, "Not found.")}, status=404)
    reason = _reason(exception, "There is no page at this address.")
    return render(request, "404.html", {"reason": reason, "path": request.path}, status=404)


class ApiDocsPermission(BasePermission):
    """The schema is for signed-in users (session or token) unless LABELHUB_PUBLIC_API_DOCS opens it."""

    def has_permission(self, request, view):
        return settings.LABELHUB_PUBLIC_API_DOCS or bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    """The schema, as YAML or JSON; a refusal in the API's error shape, JSON, whatever the schema's type."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return response


schema = SchemaView.as_view(permission_classes=[ApiDocsPermission])
# The split view serves Swagger UI's start-up script as a file of its own: no inline script (CSP).
_docs = SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[ApiDocsPermission])


def api_docs(request, *args, **kwargs):
    """Swagger UI; a signed-out browser is sent to the login page (unless the docs are public)."""
    if not settings.LABELHUB_PUBLIC_API_DOCS and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _docs(request, *args, **kwargs)
