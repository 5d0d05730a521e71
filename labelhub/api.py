"""API plumbing shared by every app: error format, pagination and OPTIONS metadata."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labelhub.deadlocks import DEADLOCK_MESSAGE, BatchNotSaved, is_deadlock

logger = logging.getLogger(__name__)

# SQLSTATEs of a database that is not there for the moment: class 08 (connection exceptions: a pooler's
# own errors, such as PgBouncer's query_wait_timeout, are 08P01), and the server shutting down or starting.
UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
DATABASE_UNREACHABLE_MESSAGE = (
    "The database could not be reached (it, or the connection pooler in front of it, may be restarting). "
    "Try again in a moment: a request sent again does its work once."
)
DATABASE_UNREACHABLE_RETRY_SECONDS = 5


def is_database_unreachable(exc) -> bool:
    """Whether ``exc`` says the database could not be reached or the connection to it broke (refused,
    closed under the request, a server shutting down), rather than refusing the statement itself."""
    if not isinstance(exc, OperationalError) or is_deadlock(exc):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(UNREACHABLE_SQLSTATES)
    # psycopg gives no SQLSTATE where no server answered: a connection refused, or one that broke
    return type(cause).__module__.startswith("psycopg")


def database_unreachable_logged(request, exc) -> None:
    """Log a request the database could not answer (``is_database_unreachable``) as a warning, by its first
    line: a moment's unavailability, not an error with a traceback. The API and the pages log it alike."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    method, path = getattr(request, "method", ""), getattr(request, "path", "")
    logger.warning("%s %s: the database could not be reached: %s", method, path, first)


class ChoiceField(serializers.ChoiceField):
    """DRF's ChoiceField whose refusal names the valid choices: ``"scraped" is not a valid choice; one of:
    owned, crowdsourced, ...`` (DRF said only ``"scraped" is not a valid choice.``, and a client had to
    read the schema to learn what to send). Every choice field of the API is one of these
    (tests/api/test_contract_shapes.py walks the serializers)."""

    default_error_messages = {"invalid_choice": '"{input}" is not a valid choice; one of: {choices}.'}

    def fail(self, key, **kwargs):
        if key == "invalid_choice":
            kwargs.setdefault("choices", ", ".join(self.choice_strings_to_values))
        super().fail(key, **kwargs)


# DRF's ModelSerializer whose fields made from a model field's choices are ChoiceFields that name them.
# (A comment, not a docstring: the schema would give a docstring to every serializer made from it.)
class NumberField(serializers.FloatField):
    """A FloatField that refuses JSON true and false: DRF's reads them as 1.0 and 0.0 (float(True))."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            raise serializers.ValidationError(f"a number is required, not {str(data).lower()}")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    serializer_choice_field = ChoiceField


def exception_handler(exc, context):
    """Answer every error as ``{"detail": sentence}``; validation errors add per-field messages.

    Services raise Django's ValidationError (they know nothing of HTTP); it becomes a 400 here.
    """
    if isinstance(exc, BatchNotSaved):  # some batches before it were saved: the sentence says which
        return Response({"detail": str(exc)}, status=503, headers={"Retry-After": "1"})
    if is_deadlock(exc):
        # A deadlock's victim twice over (``retry_deadlock_once``): a sentence, not a 500; nothing was saved.
        return Response({"detail": DEADLOCK_MESSAGE}, status=503, headers={"Retry-After": "1"})
    if is_database_unreachable(exc):
        # A database or PgBouncer restarting: a moment's unavailability, not a bug to report (a 500 said so).
        database_unreachable_logged(context.get("request"), exc)
        retry = str(DATABASE_UNREACHABLE_RETRY_SECONDS)
        return Response({"detail": DATABASE_UNREACHABLE_MESSAGE}, status=503, headers={"Retry-After": retry})
    limit = request_limit_error(exc)
    if limit is not None:
        status_code, detail = limit
        return Response({"detail": detail}, status=status_code)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        exc = _unsupported_media_type(exc, context)
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
        # a field's messages are a list, as the README promises, also where a view raised one sentence
        fields = {k: v if isinstance(v, list | dict) else [v] for k, v in fields.items()}
        response.data = {"detail": _sentence(fields), **fields}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"detail": str(data["detail"]), **{k: v for k, v in data.items() if k != "detail"}}
    return response


def _unsupported_media_type(exc, context):
    """The 415 saying what the endpoint takes: DRF's named only the type sent, which told a client posting a
    form to a JSON-only endpoint (taxonomy changes) nothing about what to send instead."""
    view, request = context.get("view"), context.get("request")
    if view is None or request is None:
        return exc
    takes = ", ".join(parser.media_type for parser in view.get_parsers())
    sent = request.content_type.split(";")[0].strip() or "none"
    detail = f'Unsupported media type "{sent}": this endpoint takes {takes}.'
    return exceptions.UnsupportedMediaType(sent, detail=detail)


def request_limit_error(exc):
    """(status, sentence) for a request Django refused to read because of its size limits, else None.

    Django raises these while the body is read (``request.data``) and answers them with its plain
    "Bad Request (400)" page, which tells a script nothing; here they are named with the limit and
    what to do instead. Uploaded files do not count towards the body size, only the other fields.
    """
    if isinstance(exc, RequestDataTooBig):
        size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return 413, (
            f"The request body is over the limit of {size} bytes ({size / 2**20:.0f} MB; files uploaded "
            "as multipart do not count): send the data in smaller requests."
        )
    if isinstance(exc, TooManyFilesSent):
        return 400, (
            f"The request carries more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files: upload them in "
            "several requests, or as one zip archive through POST /api/projects/{id}/imports/."
        )
    if isinstance(exc, TooManyFieldsSent):
        return 400, f"The request carries more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    return None


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


# Fields a form or multipart body carries of its own, whatever the endpoint: the CSRF token of a page's form.
FORM_OWN_FIELDS = ("csrfmiddlewaretoken",)


def form_field_names(data, *, nested=()):
    """The names of a form or multipart body (a QueryDict, uploaded files included) as fields: less the
    fields every form carries (``FORM_OWN_FIELDS``), and with DRF's notation for a nested field read as
    that field (``options.borderline`` or ``classes[0]key`` is ``options`` or ``classes`` when it is in
    ``nested``, which DRF reads that way; the nested serializer checks what is inside)."""
    names = []
    for name in data:
        if name in FORM_OWN_FIELDS:
            continue
        base = name.split(".", 1)[0].split("[", 1)[0]
        names.append(base if base != name and base in nested else name)
    return list(dict.fromkeys(names))


def body_as_dict(data):
    """A form or multipart body as a dict of its fields' values less ``FORM_OWN_FIELDS``, for a view that
    checks every name itself and whose fields each take one value (planning settings): the page form's CSRF
    token was refused there as an unknown field. A field sent twice is refused naming it, as a version
    recipe's is (``body_as_lists``): JSON holds one value per name, and the form's last one was kept, the
    first dropped without a word. Anything else (a JSON body) as it is."""
    if not hasattr(data, "getlist"):
        return data
    fields = body_as_lists(data)
    repeated = {
        name: f"sent {len(values)} times; this field takes one value"
        for name, values in fields.items()
        if len(values) > 1
    }
    if repeated:
        raise exceptions.ValidationError(repeated)
    return {name: values[-1] for name, values in fields.items()}


def body_as_lists(data):
    """A form or multipart body as a dict of each field's values (a list, in the order sent) less
    ``FORM_OWN_FIELDS``, for a view that reads repeated and nested fields itself (a version's recipe)."""
    return {name: values for name, values in data.lists() if name not in FORM_OWN_FIELDS}


def unknown_fields_error(data, known, *, nested=()):
    """The ValidationError for a body's fields that are not in ``known`` (names), else None.

    A misspelt field (``boderline``, ``overlp``) was dropped without a word and the default stored in its
    place: an answer or a campaign other than the one the client meant. JSON objects are checked, and form
    and multipart bodies (a QueryDict, uploaded files included) as ``form_field_names`` reads them (a page
    form's CSRF token passes). Form bodies went unchecked on most
    endpoints: ``curl -d overlp=5`` made a campaign of the default overlap as JSON once did."""
    if type(data) is dict:
        names = list(data)
    elif hasattr(data, "getlist"):
        names = form_field_names(data, nested=nested)
    else:
        return None
    unknown = [name for name in names if name not in known]
    if not unknown:
        return None
    message = f"unknown field (the fields here: {', '.join(known)})"
    return exceptions.ValidationError({name: [message] for name in unknown})


# Fields DRF reads from a form in its nested notation (``name.key``, ``name[0]``): nested serializers,
# lists and objects.
NESTED_FIELDS = (serializers.BaseSerializer, serializers.ListField, serializers.DictField)


def nested_field_names(fields):
    """The names among ``fields`` (a serializer's) that a form may send in DRF's nested notation."""
    return [name for name, field in fields.items() if isinstance(field, NESTED_FIELDS)]


class KnownFieldsOnly:
    """A serializer mixin: a body carrying a field the serializer does not declare is refused with a 400
    naming the field, instead of having the field ignored (``unknown_fields_error``): a JSON object, a form
    or a multipart body."""

    def to_internal_value(self, data):
        fields = self.fields
        unknown = unknown_fields_error(data, list(fields), nested=nested_field_names(fields))
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if unknown is None:
                raise
            raise exceptions.ValidationError({**exc.detail, **unknown.detail}) from exc  # every problem at once
        if unknown is not None:
            raise unknown
        return value


def page_size_param(request, *, name, default, maximum):
    """``?page_size=``: a whole number from 1, at most ``maximum`` (a larger one is cut to it, and the
    ``next`` links carry on from there); absent, ``default``. Anything else is refused naming it: DRF
    took ``page_size=abc`` or ``0`` for the default without a word."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise exceptions.ValidationError({name: f"'{value}' is not a page size (a whole number from 1 to {maximum})"})
    return min(int(value), maximum)


class Pagination(PageNumberPagination):
    """Numbered pages. A ``page`` that is no page number (``abc``, ``0``) is a 400 naming it; a page past
    the end is a 404 saying how many pages there are (DRF answered "Invalid page." to both)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        return page_size_param(
            request, name=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def get_page_number(self, request, paginator):
        value = request.query_params.get(self.page_query_param) or "1"
        if value in self.last_page_strings:
            return paginator.num_pages
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise exceptions.ValidationError(
                {self.page_query_param: f"'{value}' is not a page number (1, 2, ... or 'last')"}
            )
        if int(value) > max(paginator.num_pages, 1):
            n, count = paginator.num_pages, paginator.count
            raise exceptions.NotFound(
                f"There is no page {value}: the list has {n} page{'s' if n != 1 else ''} "
                f"({count} row{'s' if count != 1 else ''}, {paginator.per_page} a page)."
            )
        return int(value)


class KeysetPagination(CursorPagination):
    """Keyset ("cursor") pages in ``id`` order: each page is ``WHERE id > last ORDER BY id LIMIT n``, so a
    page deep into a large list costs what the first one does, and no page counts the rows.

    Ordering by the primary key, which never changes, is what makes a walk exact: every row that exists
    when the walk starts is answered exactly once, even when rows are added or edited meanwhile (an edit
    keeps its place; a new row has a larger id and comes later in the walk). A cursor that does not decode
    to a position answers 400 naming ``cursor`` (DRF's own answers 404, or a 500 for a position that is
    no number).
    """

    ordering = ("id",)
    page_size = Pagination.page_size
    page_size_query_param = "page_size"
    max_page_size = Pagination.max_page_size

    def get_page_size(self, request):
        return page_size_param(
            request, name=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: "not a cursor this list gave out"}) from None
        if cursor is not None and cursor.position is not None:
            position = cursor.position
            if not (position.isdigit() and int(position) < 2**63):
                raise exceptions.ValidationError({self.cursor_query_param: "not a cursor this list gave out"})
        return cursor


class PageOrCursorPagination(Pagination):
    """Numbered pages (``?page=``, with ``count``) as every list has, or keyset pages when the request
    has a ``cursor`` parameter — an empty ``?cursor=`` starts at the beginning — whose ``next`` carries
    the cursor onwards and whose ``count`` is null (no COUNT per page). Same response shape either way."""

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = None
        if self.cursor_query_param in request.query_params:
            if request.query_params.get(self.page_query_param):
                # a page number beside a cursor was ignored and carried along in every next link
                raise exceptions.ValidationError(
                    {self.page_query_param: "page numbers and a cursor are two ways of paging: send one"}
                )
            self.keyset = KeysetPagination()
            return self.keyset.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.keyset is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": None,
                "next": self.keyset.get_next_link(),
                "previous": self.keyset.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        paged = super().get_paginated_response_schema(schema)
        paged["properties"]["count"]["nullable"] = True
        paged["properties"]["count"]["description"] = "null on keyset (cursor) pages, which count nothing"
        return paged

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        cursor = KeysetPagination().get_schema_operation_parameters(view)[0]
        cursor["description"] = (
            "keyset paging in id order: empty for the first page, then follow `next`; a steady cost at any depth"
        )
        return [*parameters, cursor]
