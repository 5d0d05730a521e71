"""The OpenAPI schema's shared parts: the error answers every operation can give."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.fields import empty


class ErrorSerializer(serializers.Serializer):
    """The API's error shape (``labelhub.api.exception_handler``): a sentence, and for invalid input the
    messages of each field by name (``{"detail": "Invalid input: name: ...", "name": ["..."]}``)."""

    detail = serializers.CharField()

    class Meta:
        ref_name = "Error"


ERRORS = {
    "400": "Invalid input (the message names the field), or a NUL character anywhere in the request.",
    "401": "No credentials, or a token that is not valid.",
    "403": "Your role in this project does not allow this.",
    "404": "Not found, or a project you are not a member of.",
    "429": "Too many requests: wait for the time in Retry-After.",
}


# The numbered pages of ``labelhub.api.Pagination``. A view that paginates rows it builds itself (no
# serializer with many=True for drf-spectacular to wrap) declares these and answers ``paged(...)``.
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="a page number (1, 2, ...)"),
    OpenApiParameter("page_size", int, description="rows a page (default 50, at most 1,000)"),
]


def paged(name, fields=None):
    """The answer of a numbered list whose rows are built by the view: ``count``, ``next``, ``previous``
    and ``results``, as the paginator answers them, plus ``fields`` the view adds."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializers.ListField(child=serializers.DictField()),
            **(fields or {}),
        },
    )


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema with the common error answers documented on every operation, so a
    client (and Schemathesis) knows that a 400, 401, 403 or 404 is part of the contract; and output
    fields declared with ``default=None`` (``source="job.total", default=None``) marked nullable, as
    they answer null when the source is missing or None."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "response" and getattr(field, "default", empty) is None:
            meta["nullable"] = True
        return meta

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403"]
        if "{" in self.path or self.path.startswith("/api/projects/"):
            codes.append("404")
        if self.view.get_throttles():
            codes.append("429")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = ERRORS[code]
        return responses


# Answers whose shape depends on the caller's role: the fuller view is also a valid reduced one, so the
# truthful combinator is anyOf ("one of these shapes, maybe both"), not oneOf ("exactly one").
VIEWS_BY_ROLE = ("ItemView",)


def views_by_role(result, generator, request, public):
    """drf-spectacular postprocessing hook: the role-dependent views of VIEWS_BY_ROLE as anyOf."""
    schemas = result.get("components", {}).get("schemas", {})
    for name in VIEWS_BY_ROLE:
        if "oneOf" in schemas.get(name, {}):
            schemas[name]["anyOf"] = schemas[name].pop("oneOf")
    return result
