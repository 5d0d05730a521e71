"""The API's content negotiation.

A module of its own, importing only DRF's negotiation: DRF imports this class from its settings while
``rest_framework.views`` is being imported, so a module that imports ``rest_framework.views`` itself
(as ``labelhub.api`` does) would be imported half-way and fail the first time a process loads it from
a system check (the Celery worker, ``check --deploy``).
"""

from types import SimpleNamespace

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with its most common case answered without parsing the Accept header: a
    client that accepts anything, or exactly the first renderer's type (``application/json``), gets
    the first renderer, as DRF would choose. Anything else (a list, quality values, ``?format=``) goes
    through DRF's code."""

    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if renderers and not format_suffix and accept in ("*/*", renderers[0].media_type):
            override = self.settings.URL_FORMAT_OVERRIDE
            if not (override and request.query_params.get(override)):
                return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class FileNegotiation(ContentNegotiation):
    """For views that answer a file or a stream of their own (a manifest, a download, an export, an item's
    media) rather than data for DRF to render: the renderer only writes their error bodies.

    - An Accept header naming the file's own type (``application/x-ndjson``, ``application/zip``,
      ``image/png``, ``application/octet-stream``) is no reason for a 406: DRF refused every such
      request, since its renderers only write JSON. Errors are then answered as JSON.
    - ``?format=`` names the file's format here, not a DRF renderer (its URL_FORMAT_OVERRIDE).
    """

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class FormatParamNegotiation(ContentNegotiation):
    """For JSON views with a ``?format=`` of their own (a map's points as ``rows`` or ``columns``): DRF read
    it as a renderer to look up (its URL_FORMAT_OVERRIDE) and answered 404 to every documented value."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)
