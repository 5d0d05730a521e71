#!/bin/sh
# web: migrate, then gunicorn; worker: a Celery worker (scale with `docker compose up --scale worker=N`).
set -e
case "$1" in
  web)
    python manage.py migrate --noinput
    exec gunicorn labelhub.wsgi --preload --bind 0.0.0.0:8000 --workers "${WEB_CONCURRENCY:-4}" --timeout 120 \
      --access-logfile -
    ;;
  worker)
    exec celery -A labelhub worker --loglevel=info --concurrency "${WORKER_CONCURRENCY:-2}" \
      --queues "${WORKER_QUEUES:-celery}"
    ;;
  seed)
    python manage.py migrate --noinput
    exec python manage.py seed_demo
    ;;
  *)
    exec "$@"
    ;;
esac
