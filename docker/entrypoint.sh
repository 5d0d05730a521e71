#!/bin/sh
# migrate: apply the database migrations once (compose runs it before web and workers start);
# web: the web server; worker: a Celery worker (scale with `docker compose up --scale worker=N`).
set -e
case "$1" in
  migrate)
    python manage.py migrate --noinput
    ;;
  web)
    # Alone (`docker run IMAGE web`) the web container migrates first. Where something else migrates once
    # (the compose stack's migrate service, a deploy job), MIGRATE_ON_START=0: several web containers
    # migrating at once race on the same tables, and one of them fails.
    if [ "${MIGRATE_ON_START:-1}" != 0 ]; then
      python manage.py migrate --noinput
    fi
    # an empty instance: print the link that makes its first account (nothing once one exists)
    python manage.py first_account_link --if-empty
    if [ "${WEB_SERVER:-granian}" = gunicorn ]; then
      exec gunicorn labelhub.wsgi --preload --bind 0.0.0.0:8000 --workers "${WEB_CONCURRENCY:-4}" --timeout 120 \
        --access-logfile -
    fi
    # Granian (Rust HTTP/1.1 with keep-alive, the WSGI app in two blocking threads per worker): less CPU per
    # answer of the labeling loop than gunicorn's sync workers (benchmarks/labeling_ab_bench.py --servers).
    exec granian --interface wsgi labelhub.wsgi:application --host 0.0.0.0 --port 8000 \
      --workers "${WEB_CONCURRENCY:-4}" --blocking-threads "${WEB_THREADS:-2}" --no-ws \
      --respawn-failed-workers --access-log
    ;;
  worker)
    exec celery -A labelhub worker --loglevel=info --concurrency "${WORKER_CONCURRENCY:-2}" \
      --queues "${WORKER_QUEUES:-${CELERY_QUEUE:-celery}}"
    ;;
  seed)
    if [ "${MIGRATE_ON_START:-1}" != 0 ]; then
      python manage.py migrate --noinput
    fi
    exec python manage.py seed_demo
    ;;
  *)
    exec "$@"
    ;;
esac
