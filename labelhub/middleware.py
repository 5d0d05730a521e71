"""Request checks that hold for the API and the pages alike."""

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.html import escape

from labelhub.parsers import NUL_MESSAGE, form_nul_paths


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
        names = ", ".join(escape(field) for field in fields)
        return HttpResponseBadRequest(
            f"<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{names}: {escape(NUL_MESSAGE)}.</p>"
            '<p><a href="/">Home</a></p>'
        )
