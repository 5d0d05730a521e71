"""Every GET route of the site, its ids filled in, read as one user: for the tests that check that a
role never sees something through any page or endpoint, including ones added later."""

import re

from django.urls import URLResolver, get_resolver

# Not project data: Django's admin (staff only), the sign-in pages, and the API docs page (Swagger UI,
# which writes its own address, query string included, into the page).
SKIPPED_PREFIXES = ("admin/", "login/", "logout/", "api/docs/")
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
DEFAULTS = {"ref": "latest", "fmt": "csv", "action": "enable"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield route


def site_routes(ids):
    """``(route, path)`` for every route of the URLconf; each ``<type:name>`` is ``ids[name]`` (else a
    default: 1, or a word for the few string parameters)."""
    routes = []
    for route in _walk(get_resolver().url_patterns):
        if route.startswith(SKIPPED_PREFIXES) or route.startswith("^"):
            continue
        path = PARAMETER.sub(lambda m: str(ids.get(m.group(2), DEFAULTS.get(m.group(2), 1))), route)
        routes.append((route, "/" + path))
    return routes


def read_everything(client, ids, query=""):
    """GET every route as ``client`` (with ``query`` appended): ``{route: (status, body text)}``."""
    answers = {}
    for route, path in site_routes(ids):
        response = client.get(path + query)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        answers[route] = (response.status_code, body.decode("utf-8", "replace"))
    return answers


def routes_showing(answers, secrets):
    """The routes whose answer contains one of ``secrets``, with the secret found."""
    return sorted((route, s) for route, (_, body) in answers.items() for s in secrets if s in body)
