"""The docker stack as an operator runs it: migrations applied once before web and workers start, health
checks the containers and a load balancer can ask, and no secret of the build folder copied into the image."""

import os
import subprocess
from unittest import mock

import yaml
from django.db import OperationalError, connection
from django.test import Client

from tests.test_settings import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def run_entrypoint(tmp_path, *args, **env):
    """What docker/entrypoint.sh runs, with python, granian, gunicorn and celery stood in for by a script
    that writes its command line to a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "commands.log"
    for name in ("python", "granian", "gunicorn", "celery"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stand_in.chmod(0o755)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    out = subprocess.run(["sh", str(ENTRYPOINT), *args], env=environment, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return log.read_text().splitlines()


def test_the_web_container_alone_migrates_before_it_serves(tmp_path):
    commands = run_entrypoint(tmp_path, "web")
    assert commands[0] == "python manage.py migrate --noinput"
    assert commands[-1].startswith("granian --interface wsgi labelhub.wsgi:application")


def test_where_migrations_run_once_the_web_container_and_the_demo_seed_do_not_migrate(tmp_path):
    commands = run_entrypoint(tmp_path, "web", MIGRATE_ON_START="0")
    assert not any("migrate" in line for line in commands), commands
    assert commands[-1].startswith("granian ")
    (tmp_path / "seed").mkdir()
    assert run_entrypoint(tmp_path / "seed", "seed", MIGRATE_ON_START="0") == ["python manage.py seed_demo"]


def test_the_migrate_command_migrates_and_ends(tmp_path):
    assert run_entrypoint(tmp_path, "migrate") == ["python manage.py migrate --noinput"]


def test_compose_migrates_once_before_web_and_workers_start():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker"):
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        # Several web containers (or `compose run web seed` beside a starting web) migrating at once race.
        assert service["environment"]["MIGRATE_ON_START"] == "0", name
        assert service["restart"] == "unless-stopped", name


def test_compose_checks_the_health_of_web_workers_and_their_services():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["web"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "healthcheck" in services["redis"] and "healthcheck" in services["db"]


def test_an_env_file_beside_compose_yaml_stays_out_of_the_image():
    # compose reads SECRET_KEY from docker/.env; the build context is the repository root and the image
    # copies it whole (COPY . .), so the file must be left out of the context.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "**/.env" in ignored
    assert "COPY . ." in (ROOT / "docker" / "Dockerfile").read_text()


def test_health_check_answers_a_probe_by_address_over_plain_http(db, settings):
    settings.ALLOWED_HOSTS = ["labels.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    # Any other address keeps the host check and the redirect.
    assert Client().get("/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert Client().get("/login/", HTTP_HOST="labels.example.org").status_code == 301


def test_health_check_says_when_the_database_does_not_answer(db):
    def refuse():
        raise OperationalError("connection refused")

    with mock.patch.object(connection, "cursor", refuse):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.content == b"database unavailable\n"


def test_entrypoint_is_executable():
    assert os.access(ENTRYPOINT, os.X_OK) and ENTRYPOINT.read_text().startswith("#!/bin/sh\n")


def test_the_image_installs_the_runtime_dependencies_not_the_test_tools():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "pip install -r requirements/constraints.txt" not in dockerfile
    assert "pip install -c requirements/constraints.txt /tmp/deps" in dockerfile
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    assert "playwright==" in constraints  # what `-r` put in the image


def test_extra_packages_such_as_boto3_are_installed_at_the_pins_the_tests_ran_against():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "pip install -c requirements/constraints.txt $EXTRA_PACKAGES" in dockerfile
    constraints = (ROOT / "requirements" / "constraints.txt").read_text().split()
    assert any(line.startswith("boto3==") for line in constraints)
