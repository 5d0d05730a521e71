"""Each of pytest-xdist's test processes (``make test`` runs ``-n 2``) gets its own Celery queue and broker
folder, set before the settings are read (this plugin is loaded with ``-p``, before pytest-django).

Each process starts its own Celery worker on its own test database (``test_<name>_gw0``, ...); on a shared
broker, one process's worker would otherwise take the other's jobs and run them against the wrong
database. xdist names the process in ``PYTEST_XDIST_WORKER`` before it reads its configuration; a run
without xdist is left as it is.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def isolate(environ):
    """Give the xdist process named in ``environ`` its own queue and broker folder (in place)."""
    name = environ.get("PYTEST_XDIST_WORKER")
    if not name:
        return
    var = Path(environ.get("LABELHUB_VAR_DIR") or ROOT / "var")
    base = environ.get("CELERY_BROKER_DIR") or str(var / "test-celery")
    environ["CELERY_BROKER_DIR"] = str(Path(base) / name)
    environ["CELERY_QUEUE"] = f"{environ.get('CELERY_QUEUE') or 'celery'}-{name}"


isolate(os.environ)
