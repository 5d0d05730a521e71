"""Serving stored files: single byte ranges (audio seeking, resumable downloads) and proxy hand-off."""

import mimetypes
import re

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


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


def stored_file_response(request, name, *, filename=None, content_type=None, storage=None, attachment=False):
    """Answer a stored file with HTTP Range support; never call this before the permission check.

    With MEDIA_ACCEL_REDIRECT_PREFIX set (nginx in front), the proxy sends the bytes; on object storage
    the client is redirected to a short-lived signed URL.
    """
    storage = storage or default_storage
    content_type = content_type or mimetypes.guess_type(filename or name)[0] or "application/octet-stream"
    if not isinstance(storage, FileSystemStorage):
        return HttpResponseRedirect(storage.url(name))
    if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + name
        return response
    size = storage.size(name)
    disposition = {"as_attachment": attachment, "filename": filename} if filename else {}
    match = RANGE_RE.match(request.headers.get("Range", "").strip())
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
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
    if filename and "Content-Disposition" not in response:
        kind = "attachment" if attachment else "inline"
        response["Content-Disposition"] = f'{kind}; filename="{filename}"'
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
