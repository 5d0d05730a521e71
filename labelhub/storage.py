"""What differs on S3-compatible media storage (django-storages' S3Storage)."""

import collections
from concurrent.futures import ThreadPoolExecutor

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage

# Files fetched from S3 at once by stored_files_read: each read waits mostly on the network.
S3_READ_THREADS = 8


def s3_bucket(storage):
    """The boto3 Bucket behind ``storage`` when it is S3 storage, else None."""
    try:
        from storages.backends.s3 import S3Storage
    except (ImportError, ImproperlyConfigured):  # boto3 missing: no S3 storage can be in use
        return None
    return storage.bucket if isinstance(storage, S3Storage) else None


def stored_files_read(names, storage=None, *, missing_ok=False):
    """Each stored file's bytes, in the order of ``names`` (an iterable, read as it is consumed).
    A file the storage does not have raises FileNotFoundError, or with ``missing_ok`` is answered None
    (the reading goes on with the next).

    On S3 a file is one GET, S3_READ_THREADS of them under way at once. Opening them one after another
    through the storage cost two HEADs and a GET each, every one waiting for the last: at 20 ms a request,
    a version's imagefolder of a million images took 17 hours (past the 6-hour task limit), where a local
    disk takes minutes. At most twice that many files are held in memory while they wait their turn."""
    storage = storage or default_storage
    bucket = s3_bucket(storage)
    if bucket is None or storage.location:  # a key prefix (AWS_LOCATION): read through the storage
        for name in names:
            try:
                with storage.open(name, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                if not missing_ok:
                    raise
                data = None
            yield data
        return
    client = bucket.meta.client  # boto3 clients may be shared between threads (resources may not)

    def get(name):
        try:
            return client.get_object(Bucket=bucket.name, Key=name)["Body"].read()
        except client.exceptions.NoSuchKey:  # as the storage says it: an error naming the file
            if missing_ok:
                return None
            raise FileNotFoundError(f"{name} is not in the bucket") from None

    with ThreadPoolExecutor(S3_READ_THREADS) as pool:
        pending = collections.deque()
        for name in names:
            pending.append(pool.submit(get, name))
            if len(pending) >= 2 * S3_READ_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- items whose file is gone -------------------------------------------------------------------------
# A file deleted by hand, or a bucket restored from an older backup: a job that reads it names the item
# as a manager knows it (its id and the name it was imported under), never a server path or a key.

GONE = "no longer in the media storage"


def items_named(items, limit=20) -> str:
    """'item 12 (a.png), item 15 (b.png) and 3 more': ``items`` are Item rows or (id, name) pairs."""
    pairs = [(item.pk, item.original_name) if hasattr(item, "pk") else tuple(item) for item in items]
    words = [f"item {pk} ({name})" if name else f"item {pk}" for pk, name in pairs[:limit]]
    if len(pairs) > limit:
        return f"{', '.join(words)} and {len(pairs) - limit} more"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


class MediaMissing(FileNotFoundError):
    """Files of items that the media storage no longer has; the message names the items."""

    def __init__(self, items, what=""):
        self.items = list(items)
        files = "the file of" if len(self.items) == 1 else f"the files of {len(self.items)} items:"
        super().__init__(f"{files} {items_named(self.items)} {'is' if len(self.items) == 1 else 'are'} {GONE}{what}")
