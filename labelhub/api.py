"""API plumbing shared by every app: error format, pagination and OPTIONS metadata."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Answer every error as ``{"detail": sentence}``; validation errors add per-field messages.

    Services raise Django's ValidationError (they know nothing of HTTP); it becomes a 400 here.
    """
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        fields = {k: v for k, v in fields.items() if k != "detail"} | (
            {"non_field_errors": data["detail"]} if isinstance(data, dict) and "detail" in data else {}
        )
        response.data = {"detail": _sentence(fields), **fields}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), **{k: v for k, v in data.items() if k != "detail"}}
    return response


def _flatten(value):
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_flatten(v) for v in value)
    return str(value)


def _sentence(fields):
    parts = []
    for name, messages in fields.items():
        text = _flatten(messages)
        parts.append(text if name in ("non_field_errors", "__all__") else f"{name}: {text}")
    return "Invalid input: " + "; ".join(parts) if parts else "Invalid input."


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
