"""LabelHub settings, read from the environment.

With nothing set, LabelHub runs embedded: SQLite and media under ``var/``, and a Celery broker on the
file system (kombu's filesystem transport) so a real worker process needs no server. Set
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``MEDIA_ROOT`` (a shared volume) or the S3 variables to run
the same code on PostgreSQL, Redis or RabbitMQ and any number of workers.
"""

import importlib.util
import os
import re
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Empty is unset (var/ in the checkout), as the Makefile reads it: Path("") would be the current folder.
VAR_DIR = Path(os.environ.get("LABELHUB_VAR_DIR") or BASE_DIR / "var")


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def env_positive_int(name, default):
    """A whole number above 0 (empty is unset): anything else stops the start-up naming the variable."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number above 0 (got {value!r})")
    return number


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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "accounts",
    "labeling",
    "analysis",
]

MIDDLEWARE = [
    "labelhub.middleware.HealthCheckMiddleware",  # /healthz, before the host check and the HTTPS redirect
    "django.middleware.security.SecurityMiddleware",
    "labelhub.middleware.StaticFilesMiddleware",  # WhiteNoise's
    "labelhub.middleware.SessionMiddleware",
    "labelhub.middleware.RequestBodyMiddleware",  # bodies too long, or files from nobody: before any is read
    "django.middleware.common.CommonMiddleware",
    "labelhub.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "labelhub.middleware.AuthenticationMiddleware",
    "labelhub.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "labelhub.middleware.CSPMiddleware",
    "labelhub.middleware.DatabaseUnreachableMiddleware",  # last: asked first when a view fails
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
    # Persistent connections, each checked (a SELECT 1) before the first query of a request reuses it:
    # after a database restart, failover or pg_terminate_backend the request then reconnects instead of
    # answering 500. (When that first query is a hand-written read, such as a token's or a session's, it
    # is the check itself and is run again on a new connection if it fails: labelhub.rawsql.fetch_one.)
    # The check costs 0.07 ms wall, 0.04 ms of CPU per request (benchmarks/db_health_bench.py);
    # DB_HEALTH_CHECKS=0 saves it where dropped connections cannot happen. DB_CONN_MAX_AGE (seconds, 0:
    # a connection per request) bounds how long a process keeps its connection.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE") or 60),
            conn_health_checks=env_bool("DB_HEALTH_CHECKS", True),
        )
    }
    # Reads that stream their rows (QuerySet.iterator(): version builds, maps, agreement reports) use
    # server-side cursors; labelhub.postgresql keeps them inside transactions (a WITH HOLD cursor outside
    # one could be fetched from another server connection behind PgBouncer in transaction mode), and
    # DB_SERVER_SIDE_CURSORS=0 has them read their rows client-side (Django's DISABLE_SERVER_SIDE_CURSORS).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = not env_bool("DB_SERVER_SIDE_CURSORS", True)
    # The labeling loop's statements (labelhub.rawsql.hot_cursor) are prepared once per connection after
    # a few runs; every other query keeps Django's client-side binding and is never prepared. Unset,
    # DB_PREPARED_STATEMENTS prepares them on connections that reach PostgreSQL itself and not through a
    # pooler (labelhub.postgresql tells them apart), where the next transaction may run on a server
    # connection that never saw them; 1 prepares them through a pooler too (PgBouncer 1.21+ with
    # max_prepared_statements); 0 never.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with server-side cursors only inside transactions: safe behind PgBouncer in transaction mode.
        DATABASES["default"]["ENGINE"] = "labelhub.postgresql"
    if "postgresql" in DATABASES["default"]["ENGINE"] and env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
        DATABASES["default"]["PREPARE_THROUGH_POOLER"] = env_bool("DB_PREPARED_STATEMENTS")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    SQLITE_PATH = Path(os.environ.get("SQLITE_PATH") or VAR_DIR / "labelhub.sqlite3")  # empty is unset
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

# Passwords people choose (invitation sign-up, password change and reset): Django's four checks.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (accounts.signin): failed attempts per username + address, per username and per
# address within LABELHUB_SIGNIN_LOCKOUT_SECONDS lock that scope for as long (429 with Retry-After).
LABELHUB_SIGNIN_FAILURES = int(os.environ.get("LABELHUB_SIGNIN_FAILURES", 5))
LABELHUB_SIGNIN_USER_FAILURES = int(os.environ.get("LABELHUB_SIGNIN_USER_FAILURES", 50))
LABELHUB_SIGNIN_ADDRESS_FAILURES = int(os.environ.get("LABELHUB_SIGNIN_ADDRESS_FAILURES", 100))
LABELHUB_SIGNIN_LOCKOUT_SECONDS = int(os.environ.get("LABELHUB_SIGNIN_LOCKOUT_SECONDS", 900))
# E-mail sent on request (accounts.signin): password-reset mails per e-mail address and per client address,
# invitation mails per inviter and per project, within LABELHUB_MAIL_WINDOW_SECONDS (429 with Retry-After).
LABELHUB_RESET_EMAIL_MAILS = int(os.environ.get("LABELHUB_RESET_EMAIL_MAILS", 5))
LABELHUB_RESET_ADDRESS_MAILS = int(os.environ.get("LABELHUB_RESET_ADDRESS_MAILS", 20))
LABELHUB_INVITATION_MAILS = int(os.environ.get("LABELHUB_INVITATION_MAILS", 200))
LABELHUB_MAIL_WINDOW_SECONDS = int(os.environ.get("LABELHUB_MAIL_WINDOW_SECONDS", 3600))
# API tokens stop working this many seconds after they are made; unset or 0: never.
LABELHUB_TOKEN_TTL_SECONDS = int(os.environ.get("LABELHUB_TOKEN_TTL_SECONDS") or 0) or None
# How many reverse proxies in front of LabelHub append to X-Forwarded-For: the client address that
# throttles count is the entry that many hops back. 0 (default): REMOTE_ADDR, and the header (which a
# client can forge) is ignored.
LABELHUB_TRUSTED_PROXIES = int(os.environ.get("LABELHUB_TRUSTED_PROXIES", 0))

# The cache holds the throttles' counters. Per process by default (each gunicorn worker counts on its
# own); CACHE_URL=redis://host:6379/1 shares them between processes and machines.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL:
    raise ImproperlyConfigured("CACHE_URL must be a redis:// or rediss:// URL (or unset for a per-process cache).")
else:
    # Room for many counters: the default 300 entries would let a flood of usernames evict lockouts.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}
    }

# Invitation e-mails leave from a thread of the web process, so a slow SMTP server never holds the page.
LABELHUB_MAIL_IN_BACKGROUND = env_bool("LABELHUB_MAIL_IN_BACKGROUND", True)
# E-mail (password reset links, invitations): printed to the console unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 587))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "LabelHub <labelhub@localhost>")
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", 3 * 3600))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# An empty STATIC_ROOT, MEDIA_ROOT, SQLITE_PATH or CELERY_BROKER_DIR is unset, as LABELHUB_VAR_DIR is:
# Path("") would be the current folder.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "staticfiles")
if not env_bool("STATIC_MANIFEST"):
    # Without `collectstatic`, WhiteNoise serves straight from the app folders (also under the tests'
    # DEBUG=False), so every page has its CSS and JS with nothing but `make run`. STATIC_ROOT is then
    # only where `collectstatic` would write: nothing creates it (see labelhub.middleware.StaticFilesMiddleware).
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = DEBUG

# Media: a local folder (a shared volume when several machines run workers) or S3-compatible storage.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
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


def s3_media_storage(environ):
    """The media storage on an S3-compatible bucket, from the AWS_* variables: AWS_STORAGE_BUCKET_NAME,
    AWS_S3_ENDPOINT_URL (MinIO, Ceph, R2...; unset for AWS itself) and AWS_S3_REGION_NAME; django-storages
    and boto3 read the keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) from the environment themselves."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "default_acl": "private",
            "querystring_auth": True,
            # Signed URLs in Signature Version 4: left to itself botocore signs them in version 2, which S3
            # refuses for buckets made since mid-2020, as do stores that speak only version 4.
            "signature_version": "s3v4",
            # A file opened from the bucket is downloaded whole first: above this size into a temporary file
            # on the machine's disk rather than into memory (a 2 GB import zip was held in a worker's memory).
            "max_memory_size": 16 * 1024 * 1024,
        },
    }


if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    # boto3 must be installed: without it every process started and then answered 500 at the first file
    # it read or wrote.
    if importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured(
            "AWS_STORAGE_BUCKET_NAME is set but boto3 is not installed: `pip install boto3` (the docker image: "
            "build it with --build-arg EXTRA_PACKAGES=boto3)"
        )
    STORAGES["default"] = s3_media_storage(os.environ)

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
# Samples (frames × channels) an audio clip may decode to: 100 million is 400 MB of float32, about 38
# minutes of 44.1 kHz stereo. Silence compresses a thousandfold, so bytes alone do not bound it.
LABELHUB_MAX_AUDIO_SAMPLES = int(os.environ.get("LABELHUB_MAX_AUDIO_SAMPLES", 100_000_000))
# Project limits: a project's active classes (each is a button and a key on the labeling page) and the
# length of one guideline version (every labeler's page carries it).
LABELHUB_MAX_CLASSES = int(os.environ.get("LABELHUB_MAX_CLASSES", 1000))
LABELHUB_MAX_GUIDELINE_CHARS = int(os.environ.get("LABELHUB_MAX_GUIDELINE_CHARS", 200_000))
# The address machine clients reach LabelHub at, put in webhook and external-trainer payloads
# (e.g. "https://labelhub.example.org"); without it those payloads carry paths only.
LABELHUB_PUBLIC_URL = os.environ.get("LABELHUB_PUBLIC_URL", "").strip().rstrip("/")
if LABELHUB_PUBLIC_URL and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", LABELHUB_PUBLIC_URL):
    # "labels.example.org" without its scheme made links relative to the receiver's own address.
    raise ImproperlyConfigured(
        f"LABELHUB_PUBLIC_URL must be an http:// or https:// address such as https://labels.example.org "
        f"(got {LABELHUB_PUBLIC_URL!r})"
    )
# How long a labeler holds the item the queue handed them (its slot counts against the item's k answers)
# before it goes back to the others; asking again or answering renews or ends the hold.
LABELHUB_RESERVATION_SECONDS = env_positive_int("LABELHUB_RESERVATION_SECONDS", 300)
# A running build or training job silent (no heartbeat) for this long may be retried.
LABELHUB_JOB_STALE_SECONDS = int(os.environ.get("LABELHUB_JOB_STALE_SECONDS", 300))
# A job whose worker died is taken over by its redelivered message until it has had this many attempts;
# then it fails (a file that kills every worker must not cost one forever) and a manager may retry it.
LABELHUB_JOB_MAX_ATTEMPTS = int(os.environ.get("LABELHUB_JOB_MAX_ATTEMPTS", 3))
# Webhook deliveries back off from this many seconds (doubling, at most an hour, six attempts).
LABELHUB_WEBHOOK_RETRY_SECONDS = int(os.environ.get("LABELHUB_WEBHOOK_RETRY_SECONDS", 30))
# Who may create projects: "staff" (staff users and users given labeling.add_project) or "everyone".
LABELHUB_PROJECT_CREATORS = os.environ.get("LABELHUB_PROJECT_CREATORS", "staff").strip().lower()
if LABELHUB_PROJECT_CREATORS not in ("staff", "everyone"):
    raise ImproperlyConfigured("LABELHUB_PROJECT_CREATORS must be 'staff' or 'everyone'")
# Networks (CIDR) webhooks may reach although they are not public: a team's own receivers. Empty: public
# addresses only (loopback, private, link-local and the like are refused).
LABELHUB_WEBHOOK_ALLOWED_NETWORKS = env_list("LABELHUB_WEBHOOK_ALLOWED_NETWORKS")
# A local ONNX model file for the "onnx" embedder of the map (images or audio); optional.
LABELHUB_ONNX_MODEL = os.environ.get("LABELHUB_ONNX_MODEL", "")
# Where `make embedders` writes the pretrained embedders' ONNX models (and the speeds measured here):
# a folder on each web and worker machine, never media storage. Under LABELHUB_VAR_DIR like the other
# runtime files, so a web and a worker given the same LABELHUB_VAR_DIR look for them in the same place.
LABELHUB_MODELS_DIR = os.environ.get("LABELHUB_MODELS_DIR") or str(VAR_DIR / "models")  # empty is unset
# Agreement reports over this many answers are computed by a worker and cached.
LABELHUB_AGREEMENT_SYNC_LIMIT = int(os.environ.get("LABELHUB_AGREEMENT_SYNC_LIMIT", 200_000))
# PostgreSQL: a report's answers read over this many connections at once (one snapshot shared), when the
# planner expects at least LABELHUB_ANSWER_READ_SPLIT_MIN of them; 1: always one connection.
LABELHUB_ANSWER_READ_CONNECTIONS = int(os.environ.get("LABELHUB_ANSWER_READ_CONNECTIONS", 2))
LABELHUB_ANSWER_READ_SPLIT_MIN = int(os.environ.get("LABELHUB_ANSWER_READ_SPLIT_MIN", 200_000))
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
    # Per user (any token or the session) and per anonymous address; far above the labeling loop (a
    # few requests per answer), the test suite and the benchmarks. "N/second|minute|hour|day".
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.UserRateThrottle", "accounts.throttles.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("LABELHUB_API_RATE_USER", "30000/minute") or None,
        "anon": os.environ.get("LABELHUB_API_RATE_ANON", "600/minute") or None,
    },
    "NUM_PROXIES": LABELHUB_TRUSTED_PROXIES,
    # Refuse NUL characters and over-deep JSON in every body (labelhub/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "labelhub.parsers.JSONParser",
        "labelhub.parsers.FormParser",
        "labelhub.parsers.MultiPartParser",
    ],
    "DEFAULT_METADATA_CLASS": "labelhub.metadata.Metadata",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "labelhub.negotiation.ContentNegotiation",
    # An API URL opened in a browser shows DRF's page, without a filter form (labelhub/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "labelhub.renderers.BrowsableAPIRenderer"],
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
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "labelhub.schema.views_by_role"],
    # Several models have a `status` field with its own choices: each enum gets its own name (without
    # this, drf-spectacular warns, and `check --deploy` with it).
    "ENUM_NAME_OVERRIDES": {
        "SourceStatusEnum": "labeling.choices.SourceStatus",
        "JobStatusEnum": "labeling.choices.JobStatus",
        "VersionStatusEnum": "labeling.models.VersionStatus",
        "DeliveryStatusEnum": "labeling.models.DeliveryStatus",
        "CampaignStatusEnum": "labeling.models.CampaignStatus",
        "DecisionActionEnum": "labeling.models.DecisionAction",
        "MapSelectionActionEnum": [("tag", "tag")],
    },
}

# The OpenAPI schema and its Swagger UI need a signed-in user (session or token) unless this opens them.
LABELHUB_PUBLIC_API_DOCS = env_bool("LABELHUB_PUBLIC_API_DOCS")

# Celery. Without CELERY_BROKER_URL the broker is a folder: a real worker process, no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR") or VAR_DIR / "celery")
# The queue this installation's jobs go to and its workers take (a worker given no --queues takes it):
# installations sharing one broker each set their own, or one's workers would run the other's jobs.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE") or "celery"
# The test suite's processes (`make test` runs pytest-xdist, which names each one in PYTEST_XDIST_WORKER
# before the settings are read) each start a worker on their own test database: each has its own queue and
# broker folder, or one process's worker would take another's jobs.
if os.environ.get("PYTEST_XDIST_WORKER"):
    CELERY_TASK_DEFAULT_QUEUE += "-" + os.environ["PYTEST_XDIST_WORKER"]
    CELERY_BROKER_DIR /= os.environ["PYTEST_XDIST_WORKER"]
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    # kombu's filesystem transport, made safe to poll while messages are written (labelhub/broker.py)
    CELERY_BROKER_TRANSPORT = "labelhub.broker:Transport"
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
if CELERY_TASK_TIME_LIMIT <= 60:
    # The soft limit, a minute earlier, lets a task stop cleanly (a build removes its work folder): at 0
    # Celery drops it, below 0 every task is interrupted at once.
    raise ImproperlyConfigured(
        f"CELERY_TASK_TIME_LIMIT must be more than 60 seconds: the soft time limit that lets a task stop "
        f"cleanly comes 60 seconds before it (got {CELERY_TASK_TIME_LIMIT})"
    )
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith(("redis", "rediss")):
    # Redis redelivers an unacknowledged message after the visibility timeout; it must outlast the
    # longest task, or a long build would be started twice (the job claim keeps the second from running).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused permission, a missing page or a bad Host header is a one-line warning, not a traceback.
    "filters": {
        "client_errors_without_traceback": {"()": "labelhub.logs.ClientErrorsWithoutTraceback"},
        "request_context": {"()": "labelhub.logs.RequestContext"},
    },
    # When, how bad and from where: a bare message ("import job 3 failed") told an operator none of it.
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors_without_traceback", "request_context"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler (DEBUG only, no traceback filter) wrote every 403 and 404 a second
        # time, with its traceback, beside the root's line: its records go to the root handler alone.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# HTTPS. Behind a TLS-terminating proxy (docker/) set SECURE_COOKIES=1 and SECURE_SSL_REDIRECT=1, and
# HSTS once every host name is served over HTTPS only (browsers remember it for SECURE_HSTS_SECONDS).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
if SESSION_COOKIE_SECURE or SECURE_SSL_REDIRECT:
    # The proxy says which requests came over HTTPS (it must set or strip the header itself).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts only from LabelHub's own static files (no inline script,
# no event handler attribute, no eval), nothing embedded elsewhere, no plugins. Inline style attributes
# are allowed: templates set server-computed widths and class colours with them on many elements, and
# the vendored wavesurfer and regl-scatterplot inject their own <style> elements; CSS cannot run script.
# blob: carries the audio wavesurfer fetches (media) and the map's spatial-index workers (worker-src).
# Media on object storage (S3 signed URLs) comes from another origin: LABELHUB_CSP_MEDIA_ORIGINS.


def content_security_policy(environ):
    """The policy for the environment ``environ``: item files may also come from LABELHUB_CSP_MEDIA_ORIGINS,
    else from the S3 endpoint when media is on a bucket (tests/browser/test_s3_media.py uses it too)."""
    media_origins = [part.strip() for part in environ.get("LABELHUB_CSP_MEDIA_ORIGINS", "").split(",") if part.strip()]
    if not media_origins and environ.get("AWS_STORAGE_BUCKET_NAME"):
        endpoint = environ.get("AWS_S3_ENDPOINT_URL", "").rstrip("/")
        media_origins = [endpoint] if endpoint else ["https://*.amazonaws.com"]
    return {
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'", "'unsafe-inline'"],
            "img-src": ["'self'", "data:", "blob:", *media_origins],
            "media-src": ["'self'", "blob:", *media_origins],
            "connect-src": ["'self'", *media_origins],
            "font-src": ["'self'", "data:"],
            "worker-src": ["'self'", "blob:"],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
    }


_csp = content_security_policy(os.environ)
# LABELHUB_CSP_REPORT_ONLY=1 sends the same policy as Content-Security-Policy-Report-Only (browsers report
# violations in their console without blocking), for trying the policy out on a customised deployment.
if env_bool("LABELHUB_CSP_REPORT_ONLY"):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp
else:
    CONTENT_SECURITY_POLICY = _csp
