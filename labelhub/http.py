"""Serving stored files: single byte ranges (audio seeking, resumable downloads) and proxy hand-off."""

import mimetypes
import re
import unicodedata
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils.http import parse_etags, quote_etag

from labelhub.storage import s3_bucket

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def content_disposition(filename, *, attachment=True) -> str:
    """A Content-Disposition header for ``filename`` (RFC 6266): ``filename="..."`` when the name is plain
    ASCII; otherwise the name as ``filename*=UTF-8''...`` (percent-encoded UTF-8, which browsers prefer)
    after an ASCII stand-in as ``filename`` (accents dropped, other letters as ``-``) for clients that
    read only that. A header's value is Latin-1: the name written there as it is would be garbled."""
    kind = "attachment" if attachment else "inline"
    if filename.isascii() and filename.isprintable():
        return '{}; filename="{}"'.format(kind, filename.replace("\\", "\\\\").replace('"', '\\"'))
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "-", plain).strip("-.") or "download"
    fallback = f"{plain}.{extension}" if dot and extension.isascii() else plain
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _iter_range(handle, start, length):
    handle.seek(start)
    remaining = length
    try:
        while remaining > 0:
            data = handle.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


def etag_matches(request, etag):
    """Whether the request's If-None-Match names ``etag`` (an unquoted checksum) or is ``*``. The
    comparison is weak (RFC 9110 13.1.2): ``W/"<etag>"``, as a compressing proxy hands it on, matches."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    named = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return header.strip() == "*" or quote_etag(etag) in named


def not_modified(etag):
    response = HttpResponseNotModified()
    response["ETag"] = quote_etag(etag)
    return response


def _object_redirect(storage, name, *, content_type, filename, attachment, cache_control, max_age):
    """A redirect to a short-lived signed URL for a file on object storage.

    On S3 the URL carries the type, file name and caching the store answers with: the object is stored
    under its storage path (``datasets/7/build-12-1/imagefolder.zip``) with a type guessed from that path,
    so a browser saved a version as ``imagefolder.zip`` rather than ``pets-v3.zip``, got answers.jsonl as
    a stream of unknown type, and kept nothing it was sent. The redirect itself may be reused for half the
    URL's lifetime (within ``max_age``): without that each view of an image was signed anew, and a new URL
    is a new download."""
    if s3_bucket(storage) is None:
        return HttpResponseRedirect(storage.url(name))
    parameters = {"ResponseContentType": content_type, "ResponseCacheControl": cache_control}
    if filename:
        parameters["ResponseContentDisposition"] = content_disposition(filename, attachment=attachment)
    response = HttpResponseRedirect(storage.url(name, parameters=parameters))
    reuse = min(max_age, storage.querystring_expire // 2)
    response["Cache-Control"] = f"private, max-age={reuse}" if reuse > 0 else "private, no-cache"
    return response


def stored_file_response(
    request, name, *, filename=None, content_type=None, storage=None, attachment=False, etag=None, max_age=3600
):
    """Answer a stored file with HTTP Range support; never call this before the permission check.

    ``etag``: the file's checksum, for a file whose bytes never change under that checksum. It is sent as
    the ETag; an If-None-Match naming it answers 304, and a Range whose If-Range names another ETag
    answers the whole file (200): a client resuming a download of a URL that now serves another file
    (a dataset's ``latest``) starts over instead of joining the parts of two files. ``max_age``: how long
    a private cache may reuse the answer without asking again (0: always ask).

    With MEDIA_ACCEL_REDIRECT_PREFIX set (nginx in front), the proxy sends the bytes; on object storage
    the client is redirected to a short-lived signed URL (on S3, one that answers with ``filename``,
    ``content_type`` and ``max_age``), after the If-None-Match check.
    """
    storage = storage or default_storage
    content_type = content_type or mimetypes.guess_type(filename or name)[0] or "application/octet-stream"
    if etag and etag_matches(request, etag):
        return not_modified(etag)
    cache_control = f"private, max-age={max_age}" if max_age else "private, no-cache"
    if not isinstance(storage, FileSystemStorage):
        return _object_redirect(
            storage,
            name,
            content_type=content_type,
            filename=filename,
            attachment=attachment,
            cache_control=cache_control,
            max_age=max_age,
        )
    if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + name
        return response
    size = storage.size(name)
    disposition = {"as_attachment": attachment, "filename": filename} if filename else {}
    match = RANGE_RE.match(request.headers.get("Range", "").strip())
    if_range = request.headers.get("If-Range", "").strip()
    if match and if_range and not (etag and if_range == quote_etag(etag)):
        match = None  # another file's part (or a date, which this answer has none of): the whole file
    if match and match.group(1) and match.group(2) and int(match.group(2)) < int(match.group(1)):
        # "bytes=100-50" is no range: RFC 9110 (14.2) ignores an invalid Range, so the whole file (200),
        # not 416, which says the range lies past the end (kept for "bytes=<size>-").
        match = None
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if start >= size:
            # The API's error shape, as every other 4xx: a client reads the detail, not an empty page.
            detail = f"The range starts at byte {start}; the file has {size} bytes."
            response = JsonResponse({"detail": detail}, status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = StreamingHttpResponse(
            _iter_range(storage.open(name, "rb"), start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(storage.open(name, "rb"), content_type=content_type, **disposition)
        response["Content-Length"] = str(size)
    if filename:  # FileResponse's own header gives a non-ASCII name without an ASCII stand-in
        response["Content-Disposition"] = content_disposition(filename, attachment=attachment)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache_control
    if etag:
        response["ETag"] = quote_etag(etag)
    return response
