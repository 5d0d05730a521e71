"""moto's S3 server on a free loopback port, for the tests of media on S3-compatible storage: it answers
over HTTP as MinIO or S3 would (not moto's in-process mock), with a bucket of the caller's own."""

import contextlib
import logging
import os
import uuid

import pytest

try:
    import boto3
    from moto.server import ThreadedMotoServer
except ImportError:  # pragma: no cover - CI installs the dev extra
    boto3 = ThreadedMotoServer = None


@contextlib.contextmanager
def s3_server(folder):
    """Start the server and make a bucket; set the AWS variables a deployment sets (no credentials or
    config from the machine, no instance metadata look-up, no HTTP proxy for loopback) while it runs.
    Answers {"endpoint", "bucket", "client"}. Without moto: a failure under CI, else a skip."""
    if ThreadedMotoServer is None:
        message = "moto is not installed (the dev extra: pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)  # moto's server logs a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"labelhub-{uuid.uuid4().hex[:12]}"
    env = {
        "AWS_ACCESS_KEY_ID": "labelhub-test",
        "AWS_SECRET_ACCESS_KEY": "labelhub-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.path.join(folder, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(folder, "credentials"),
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        # A machine's HTTP proxy must not carry loopback traffic (boto3 honours the proxy variables too).
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            client = boto3.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket=bucket)
            yield {"endpoint": endpoint, "bucket": bucket, "client": client}
    finally:
        server.stop()
        werkzeug_log.setLevel(level)


def bucket_keys(s3, prefix=""):
    """The keys in the bucket under ``prefix``."""
    pages = s3["client"].get_paginator("list_objects_v2").paginate(Bucket=s3["bucket"], Prefix=prefix)
    return {entry["Key"] for page in pages for entry in page.get("Contents", [])}
