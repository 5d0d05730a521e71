"""LabelHub settings, read from the environment.

With nothing set, LabelHub runs embedded: SQLite and media under ``var/``, and a Celery broker on the
file system (kombu's filesystem transport) so a real worker process needs no server. Set
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``MEDIA_ROOT`` (a shared volume) or the S3 variables to run
the same code on PostgreSQL, Redis or RabbitMQ and any number of workers.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LABELHUB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")

# The embedded default is a developer's laptop: debug on unless said otherwise. A configured database
# means a deployment, where DEBUG must be asked for explicitly.
DEBUG = env_bool("DEBUG", default=not DATABASE_URL)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # A per-checkout key kept under var/, so sessions survive a restart of `make run`.
    key_file = VAR_DIR / "secret_key"
    try:
        SECRET_KEY = key_file.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = secrets.token_urlsafe(50)
        key_file.write_text(SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "labeling",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "labelhub.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "labelhub.urls"
WSGI_APPLICATION = "labelhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if DATABASE_URL:
    # Persistent connections; the per-request health check (a SELECT 1) is opt-in, since it costs a round
    # trip on every request and the labeling loop counts milliseconds.
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=env_bool("DB_HEALTH_CHECKS"))
    }
    # The labeling loop's statements (labelhub.rawsql.hot_cursor) are prepared once per connection after
    # a few runs; every other query keeps Django's client-side binding and is never prepared. Set
    # DB_PREPARED_STATEMENTS=0 behind a pooler that cannot keep prepared statements (PgBouncer in
    # transaction mode without max_prepared_statements).
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    SQLITE_PATH = Path(os.environ.get("SQLITE_PATH", VAR_DIR / "labelhub.sqlite3"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # A file, not memory, so a worker process started by the tests sees the test database.
            "TEST": {"NAME": SQLITE_PATH.with_name("test_" + SQLITE_PATH.name)},
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; the timeout rides out the
                # short write locks SQLite takes instead of failing with "database is locked".
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's own backend and database sessions, each reading its row in one hand-written query.
AUTHENTICATION_BACKENDS = ["labelhub.authentication.ModelBackend"]
SESSION_ENGINE = "labelhub.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
if not env_bool("STATIC_MANIFEST"):
    # Without `collectstatic`, WhiteNoise serves straight from the app folders (also under the tests'
    # DEBUG=False), so every page has its CSS and JS with nothing but `make run`.
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = DEBUG
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Media: a local folder (a shared volume when several machines run workers) or S3-compatible storage.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: files go out through a view that checks membership
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files after `collectstatic` (the docker image); plain files otherwise.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    # django-storages reads AWS_* variables (endpoint, keys, region) itself; boto3 must be installed.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "default_acl": "private",
            "querystring_auth": True,
        },
    }
# Behind nginx, set to the internal location prefix that maps to MEDIA_ROOT (e.g. "/protected-media/")
# and the file view answers with X-Accel-Redirect instead of streaming the bytes itself.
MEDIA_ACCEL_REDIRECT_PREFIX = os.environ.get("MEDIA_ACCEL_REDIRECT_PREFIX", "")

# Upload limits: Django's own (request body, in-memory part) and LabelHub's per-file ones.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LABELHUB_MAX_FILE_BYTES = int(os.environ.get("LABELHUB_MAX_FILE_BYTES", 50 * 1024 * 1024))
LABELHUB_MAX_IMPORT_BYTES = int(os.environ.get("LABELHUB_MAX_IMPORT_BYTES", 2 * 1024 * 1024 * 1024))
LABELHUB_MAX_IMAGE_PIXELS = int(os.environ.get("LABELHUB_MAX_IMAGE_PIXELS", 100_000_000))
LABELHUB_MAX_TEXT_CHARS = int(os.environ.get("LABELHUB_MAX_TEXT_CHARS", 200_000))
# The address machine clients reach LabelHub at, put in webhook and external-trainer payloads
# (e.g. "https://labelhub.example.org"); without it those payloads carry paths only.
LABELHUB_PUBLIC_URL = os.environ.get("LABELHUB_PUBLIC_URL", "").rstrip("/")
# A running build or training job silent (no heartbeat) for this long may be retried.
LABELHUB_JOB_STALE_SECONDS = int(os.environ.get("LABELHUB_JOB_STALE_SECONDS", 300))
# Webhook deliveries back off from this many seconds (doubling, at most an hour, six attempts).
LABELHUB_WEBHOOK_RETRY_SECONDS = int(os.environ.get("LABELHUB_WEBHOOK_RETRY_SECONDS", 30))
# A local ONNX model file for the "onnx" embedder of the map (images or audio); optional.
LABELHUB_ONNX_MODEL = os.environ.get("LABELHUB_ONNX_MODEL", "")
# Agreement reports over this many answers are computed by a worker and cached.
LABELHUB_AGREEMENT_SYNC_LIMIT = int(os.environ.get("LABELHUB_AGREEMENT_SYNC_LIMIT", 200_000))
# Folders on the server that a manifest's `path` entries may point into (manifests uploaded over the
# API may otherwise only name files inside their own zip archive).
LABELHUB_IMPORT_ROOTS = [Path(p) for p in env_list("LABELHUB_IMPORT_ROOTS")]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labelhub.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "labelhub.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "labelhub.schema.AutoSchema",
    "EXCEPTION_HANDLER": "labelhub.api.exception_handler",
    # Refuse NUL characters and over-deep JSON in every body (labelhub/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "labelhub.parsers.JSONParser",
        "labelhub.parsers.FormParser",
        "labelhub.parsers.MultiPartParser",
    ],
    "DEFAULT_METADATA_CLASS": "labelhub.api.Metadata",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LabelHub API",
    "DESCRIPTION": "Data-centric labeling: projects, inventory, items, labeling, agreement, versions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. Without CELERY_BROKER_URL the broker is a folder: a real worker process, no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "celery"))
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
# Progress and results live in Job rows, so no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", 6 * 3600))
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith(("redis", "rediss")):
    # Redis redelivers an unacknowledged message after the visibility timeout; it must outlast the
    # longest task, or a long build would be started twice (the job claim keeps the second from running).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Behind an HTTPS proxy (docker/), set SECURE_COOKIES=1.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES")
if SESSION_COOKIE_SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
