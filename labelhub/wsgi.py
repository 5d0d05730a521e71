"""WSGI entry point. Loads the whole application at import, so that granian's workers (the docker image's
server) load it when they start and `gunicorn --preload` once in the master before it forks: no worker's
first request waits seconds for the URLconf, the views and their imports to load."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on the first request
