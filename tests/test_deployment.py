"""Deployment hardening: `check --deploy` clean under the documented production settings, the
Content-Security-Policy, 403 and 404 pages that say why, no traceback logged for an ordinary 403, and
the API schema and docs behind sign-in."""

import io
import logging
import re
import secrets

import pytest
import yaml
from django.test import Client

from tests.test_settings import ROOT, run_settings

# The production settings README.md documents (Security > Deployment), beside a real secret key.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "labelhub.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://labelhub.example.org",
    "SECURE_COOKIES": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def check_deploy(env, tmp_path):
    env = {"SECRET_KEY": secrets.token_urlsafe(50), "LABELHUB_VAR_DIR": str(tmp_path), **env}
    code = "from django.core.management import call_command; call_command('check', deploy=True, fail_level='WARNING')"
    return run_settings(env, code=code)


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    out = check_deploy(PRODUCTION_ENV, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "System check identified no issues" in out.stdout + out.stderr
    readme = (ROOT / "README.md").read_text()
    for name, value in PRODUCTION_ENV.items():
        if name not in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"):
            assert f"{name}={value}" in readme, f"README should document {name}={value}"


def test_check_deploy_is_clean_with_the_docker_stacks_environment(tmp_path):
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    env = {}
    for name, value in compose["x-app"]["environment"].items():
        # ${NAME:-default} means the default here; ${NAME:?message} is given by the operator.
        match = re.fullmatch(r"\$\{(\w+)(?::-(.*)|:\?.*)\}", str(value))
        env[name] = (match.group(2) or "") if match else str(value)
    env.pop("SECRET_KEY")
    assert env["SECURE_SSL_REDIRECT"] == "1" and int(env["SECURE_HSTS_SECONDS"]) > 0
    out = check_deploy(env, tmp_path)
    assert out.returncode == 0, out.stderr


def test_check_deploy_names_what_is_missing_without_https_settings(tmp_path):
    out = check_deploy({"DEBUG": "0", "ALLOWED_HOSTS": "labelhub.example.org"}, tmp_path)
    assert out.returncode != 0
    assert "security.W004" in out.stderr and "security.W008" in out.stderr


def test_pages_and_api_answers_carry_a_strict_content_security_policy(client, manager, api, project):
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/")
    policy = dict(
        (d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in page["Content-Security-Policy"].split(";")) if d
    )
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" in api(manager).get("/api/projects/")


def test_policy_follows_the_settings_and_a_page_that_widens_it_keeps_its_own(client, manager, api, project, settings):
    # The header is built once per process (labelhub.middleware.CSPMiddleware), not once for good.
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://cdn.example"]}}
    answer = api(manager).get("/api/projects/")
    # django-csp orders the directives by a set's iteration (it changes with the hash seed); the order means nothing.
    directives = sorted(d.strip() for d in answer["Content-Security-Policy"].split(";"))
    assert directives == ["default-src 'self'", "img-src https://cdn.example"]
    del settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"script-src": ["'self'"]}}
    answer = api(manager).get("/api/projects/")
    assert "Content-Security-Policy" not in answer
    assert "script-src 'self'" in answer["Content-Security-Policy-Report-Only"]


def test_map_page_alone_may_evaluate_script(client, reviewer, project):
    # analysis's map page (csp_update: its WebGL library compiles its drawing code with Function()) widens its
    # own policy only; every other page keeps the strict one.
    client.force_login(reviewer)
    assert "'unsafe-eval'" not in client.get(f"/projects/{project.pk}/")["Content-Security-Policy"]
    widened = client.get(f"/projects/{project.pk}/map/")
    assert widened.status_code == 200
    assert "'unsafe-eval'" in widened["Content-Security-Policy"]


def test_report_only_setting_sends_the_policy_without_enforcing_it(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(hasattr(settings, 'CONTENT_SECURITY_POLICY'), "
        "settings.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']['script-src'])"
    )
    out = run_settings({"LABELHUB_CSP_REPORT_ONLY": "1", "LABELHUB_VAR_DIR": str(tmp_path)}, code=code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "[\"'self'\"]"]


def test_templates_have_no_inline_script_or_event_handler():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template


@pytest.fixture
def console_log():
    """What the console handler of settings.LOGGING writes, as a string."""
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


def test_403_page_says_why_links_home_and_logs_one_line(client, labeler, project, console_log):
    client.force_login(labeler)
    response = client.get(f"/projects/{project.pk}/agreement/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "This needs the reviewer role" in html and 'href="/"' in html
    assert "ask a manager of the project for that role" in html
    assert "<h1>403 Forbidden</h1>" not in html
    logged = console_log.getvalue()
    assert "Forbidden (Permission denied)" in logged
    assert "Traceback" not in logged


def test_real_errors_keep_their_traceback(console_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("django.request").error("Internal Server Error: /x", exc_info=True)
    assert "Traceback" in console_log.getvalue()


def test_a_server_error_is_logged_with_when_what_the_request_was_and_whose(
    client, manager, project, console_log, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("overview exploded")

    monkeypatch.setattr("labeling.views.project_overview", broken)
    client.force_login(manager)
    client.raise_request_exception = False
    assert client.get(f"/projects/{project.pk}/").status_code == 500
    first = console_log.getvalue().splitlines()[0]
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} ERROR django.request: Internal Server Error: "
        rf"/projects/{project.pk}/ \[GET, user {manager.pk}\]",
        first,
    ), first
    assert "RuntimeError: overview exploded" in console_log.getvalue()


def test_a_services_message_names_its_time_level_and_logger(console_log):
    logging.getLogger("labeling.services.import_jobs").error("import job %s failed", 7)
    assert re.search(r" ERROR labeling\.services\.import_jobs: import job 7 failed$", console_log.getvalue().strip())


def test_404_page_says_what_is_missing_and_links_home(client, outsider, project, console_log):
    client.force_login(outsider)
    response = client.get(f"/projects/{project.pk}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No project with that id among your projects." in html and 'href="/"' in html
    unknown = client.get("/no/such/page/")
    assert unknown.status_code == 404 and 'href="/"' in unknown.content.decode()
    assert "Traceback" not in console_log.getvalue()


def test_with_debug_on_a_404_is_logged_once_without_a_traceback(tmp_path):
    """``make run`` serves with DEBUG on: Django's own DEBUG console handler wrote each 403 and 404 a
    second time, with its traceback, beside the one-line warning."""
    code = (
        "from django.test import Client; from django.conf import settings; "
        "settings.ALLOWED_HOSTS = ['testserver']; print(settings.DEBUG, Client().get('/no/such/page/').status_code)"
    )
    out = run_settings({"LABELHUB_VAR_DIR": str(tmp_path)}, code=code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "404"]
    assert out.stderr.count("Not Found: /no/such/page/") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_api_keeps_json_errors_for_unknown_addresses(api, labeler, project):
    response = api(labeler).get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    denied = api(labeler).post(f"/api/projects/{project.pk}/versions/", {}, format="json")
    assert denied.status_code == 403 and "detail" in denied.json()


def test_api_answers_json_to_any_client_and_refuses_a_type_it_cannot_give(api, labeler, project):
    client = api(labeler)
    for accept in ("application/json", "*/*", "text/html;q=0.5, application/json"):
        answer = client.get("/api/projects/", HTTP_ACCEPT=accept)
        assert answer.status_code == 200 and answer["Content-Type"] == "application/json", accept
    refused = client.get("/api/projects/", HTTP_ACCEPT="application/xml")
    assert refused.status_code == 406 and "Accept header" in refused.json()["detail"]


def test_schema_needs_sign_in(db, api, labeler):
    refused = Client().get("/api/schema/")
    # The API's error shape (it was the same sentence as YAML, typed application/vnd.oai.openapi).
    assert refused.status_code == 401 and refused["Content-Type"] == "application/json"
    assert "credentials" in refused.json()["detail"]
    assert api(labeler).get("/api/schema/").status_code == 200
    client = Client()
    client.force_login(labeler)
    assert client.get("/api/schema/").status_code == 200


def test_docs_page_sends_signed_out_browsers_to_log_in_and_has_no_inline_script(db, labeler):
    response = Client().get("/api/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/api/docs/")
    client = Client()
    client.force_login(labeler)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.content.decode())
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_public_api_docs_setting_opens_schema_and_docs(db, settings):
    settings.LABELHUB_PUBLIC_API_DOCS = True
    assert Client().get("/api/schema/").status_code == 200
    assert Client().get("/api/docs/").status_code == 200


def test_loading_the_wsgi_application_loads_the_views_so_no_first_request_waits(tmp_path):
    # `gunicorn --preload` imports labelhub.wsgi once in the master; every view module must be loaded by then.
    out = run_settings(
        {"LABELHUB_VAR_DIR": str(tmp_path)},
        code="import sys; import labelhub.wsgi; "
        "print(all(m in sys.modules for m in ('labeling.views', 'analysis.views', 'labeling.api.items')))",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "True"


# What a web worker runs in a labeling session: the app loaded as gunicorn loads it, a labeler's labeling
# page, the next item and answers with ?next=1, as the page sends them. None of it needs SciPy,
# scikit-learn, UMAP or numba (~60-300 MB each): those belong in the Celery workers (issue 18's < 200 MiB).
LABELING_SESSION = """
import sys
import labelhub.wsgi
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.test import Client
from labeling.models import Item
from labeling.services.projects import member_add, project_create

call_command("migrate", verbosity=0)
User = get_user_model()
manager = User.objects.create_user("manager")
project = project_create(name="p", modality="text", classes=[{"key": "a"}, {"key": "b"}], overlap=1, creator=manager)
Item.objects.bulk_create([Item(project=project, text=f"t{i}", sha256=f"{i:064x}") for i in range(3)])
labeler = User.objects.create_user("labeler")
member_add(project=project, username="labeler", role="labeler")
client = Client()
client.force_login(labeler)
assert client.get(f"/projects/{project.pk}/label/").status_code == 200
item = client.get(f"/api/projects/{project.pk}/next/").json()
for _ in range(3):
    response = client.post(f"/api/items/{item['id']}/annotations/?next=1", {"value": "a"}, "application/json")
    assert response.status_code == 201, response.content
    item = response.json()["next"]
heavy = ("scipy", "sklearn", "umap", "numba", "pynndescent", "pandas", "pyarrow", "onnxruntime")
print("heavy:", ",".join(m for m in heavy if m in sys.modules) or "none")
"""


def test_a_labeling_session_in_the_web_process_loads_no_heavy_library(tmp_path):
    # It migrates a fresh SQLite database first: a minute or more when CI's two passes share the machine.
    out = run_settings(
        {"LABELHUB_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "testserver"}, code=LABELING_SESSION, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "none", out.stdout


def test_the_request_context_of_a_log_line_never_looks_the_user_up_nor_fails(rf):
    from django.utils.functional import SimpleLazyObject

    from labelhub.logs import RequestContext

    def looked_up():
        raise AssertionError("the log filter read the session")

    request = rf.post("/x/")
    request.user = SimpleLazyObject(looked_up)
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: /x/", (), None)
    record.request = request
    assert RequestContext().filter(record) and record.context == " [POST]"

    class Broken:
        @property
        def is_authenticated(self):
            raise RuntimeError("database gone")

    request.user = Broken()
    assert RequestContext().filter(record) and record.context == " [POST]"
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert RequestContext().filter(plain) and plain.context == ""
