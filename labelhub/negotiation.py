"""The API's content negotiation.

A module of its own, importing only DRF's negotiation: DRF imports this class from its settings while
``rest_framework.views`` is being imported, so a module that imports ``rest_framework.views`` itself
(as ``labelhub.api`` does) would be imported half-way and fail the first time a process loads it from
a system check (the Celery worker, ``check --deploy``).
"""

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
