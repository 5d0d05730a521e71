"""What differs on S3-compatible media storage (django-storages' S3Storage)."""

from django.core.exceptions import ImproperlyConfigured


def s3_bucket(storage):
    """The boto3 Bucket behind ``storage`` when it is S3 storage, else None."""
    try:
        from storages.backends.s3 import S3Storage
    except (ImportError, ImproperlyConfigured):  # boto3 missing: no S3 storage can be in use
        return None
    return storage.bucket if isinstance(storage, S3Storage) else None
