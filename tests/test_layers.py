"""The layers of README's Layout section, checked on the source (ast; nothing is imported): which
module may import which, no import cycles, and no project import hidden inside a function.

An upward import fails here at once rather than at run time, when a refactor of one side meets the
other's function-level import.
"""

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("labelhub", "accounts", "labeling", "analysis")
# Libraries without Django: anything may import them at the top of a module.
LIBRARIES = ("analysis.metrics", "analysis.embeddings")
FRAMEWORKS = ("django", "rest_framework", "drf_spectacular", "celery")
STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")

# Modules above both apps, which may import either: the URLconf wires their pages and APIs, and the demo
# seeds their data (projects and answers, then a dataset version and a training run).
WIRING = ("labelhub.urls", "labeling.demo")

# The few project imports that stay inside a function, each with its reason.
APP_READY = "AppConfig.ready: models and signal receivers load once the app registry is ready"
ALLOWED_IN_FUNCTIONS = {
    ("labeling.apps", "labeling.models"): APP_READY,
    ("labeling.apps", "labeling.services.projects"): APP_READY,
    ("accounts.apps", "accounts.services"): APP_READY,
    # It imports numba, which reads its cache folder once, at import: not before configure_numba_cache.
    ("analysis.embeddings.projection", "analysis.embeddings._numba_threads"): "numba imported after its cache folder",
}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources():
    """{module name: (path, is package)} of every project module but migrations."""
    out = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                out[_module_name(path)] = (path, path.name == "__init__.py")
    return out


def _in(module, prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@cache
def _imports():
    """Every import of every project module: (importer, imported module, line, inside a function).

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``;
    third-party imports are kept (by their full dotted name) for the rules on libraries."""
    modules = _sources()
    found = []
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))

        def visit(node, in_function, name=name, is_package=is_package):
            # Imports are statements: only statement lists are walked (not expressions), which keeps this fast.
            children = [c for f in STATEMENT_LISTS for c in getattr(node, f, ())]
            for child in children:
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        found.append((name, alias.name, child.lineno, in_function))
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        package = name.split(".") if is_package else name.split(".")[:-1]
                        package = package[: len(package) - child.level + 1]
                        base = ".".join(package + ([child.module] if child.module else []))
                    for alias in child.names:
                        target = f"{base}.{alias.name}"
                        found.append((name, target if target in modules else base, child.lineno, in_function))
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

        visit(tree, False)
    return found


def _project_imports():
    return [row for row in _imports() if row[1].split(".")[0] in APPS]


def _where(importer, line):
    return f"{_sources()[importer][0].relative_to(ROOT)}:{line}"


def test_no_project_import_hides_inside_a_function():
    hidden = [
        f"{_where(importer, line)} imports {target}"
        for importer, target, line, in_function in _project_imports()
        if in_function and (importer, target) not in ALLOWED_IN_FUNCTIONS
    ]
    assert not hidden, "import at the top of the module (or add a reasoned entry to ALLOWED_IN_FUNCTIONS):\n" + (
        "\n".join(hidden)
    )


def test_libraries_import_neither_django_nor_the_apps():
    upward = [
        f"{_where(importer, line)} imports {target}"
        for importer, target, line, _ in _imports()
        if _in(importer, LIBRARIES)
        and (_in(target, FRAMEWORKS) or (target.split(".")[0] in APPS and not _in(target, LIBRARIES)))
    ]
    assert not upward, "analysis/metrics and analysis/embeddings are plain numpy libraries:\n" + "\n".join(upward)


def test_each_app_imports_only_downward():
    """accounts and labelhub's own modules use no domain app; labeling uses analysis's libraries only
    (analysis.metrics), never the measuring side; only the WIRING modules use both apps."""
    forbidden = {
        "accounts": ("labeling", "analysis"),
        "labelhub": ("labeling", "analysis"),
        "labeling": ("analysis",),
    }
    upward = []
    for importer, target, line, _ in _project_imports():
        app = importer.split(".")[0]
        if importer in WIRING or _in(target, LIBRARIES):
            continue
        if any(_in(target, (other,)) for other in forbidden.get(app, ())):
            upward.append(f"{_where(importer, line)} imports {target}")
    assert not upward, "an upward import (see README, Layout):\n" + "\n".join(upward)


def test_every_project_import_names_a_module_that_exists():
    """A module moved to the other app leaves no import of its old place behind."""
    missing = [
        f"{_where(importer, line)} imports {target}"
        for importer, target, line, _ in _project_imports()
        if target not in _sources()
    ]
    assert not missing, "\n".join(missing)


def test_services_start_tasks_by_name_and_only_tasks_modules_hold_tasks():
    """Services send a task by its registered name (labeling.services.jobs); a tasks module imports
    services only, and nothing imports a tasks module (the worker finds them by autodiscovery)."""
    tasks_modules = {"labeling.tasks", "analysis.tasks"}
    wrong = []
    for importer, target, line, _ in _project_imports():
        if target in tasks_modules:
            wrong.append(f"{_where(importer, line)} imports {target}")
        elif importer in tasks_modules and ".services" not in target:
            wrong.append(f"{_where(importer, line)}: a tasks module imports {target}, not a service")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {}
    for importer, target, _, _ in _project_imports():
        if target != importer and target in _sources():
            graph.setdefault(importer, set()).add(target)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def strongly_connected(node):  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                strongly_connected(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strongly_connected(node)
    assert not cycles, "modules that import each other (directly or round a loop):\n" + "\n".join(map(str, cycles))


def test_the_rules_see_the_imports_they_judge():
    """The checks above judge something: the known imports are found where they are."""
    rows = {(importer, target) for importer, target, _, _ in _imports()}
    assert ("analysis.services.agreement", "labeling.services.jobs") in rows
    assert ("labeling.services.resolution", "analysis.metrics") in rows
    assert ("analysis.metrics.agreement", "analysis.metrics._common") in rows  # a relative import, resolved
    assert ("labeling.apps", "labeling.models") in {(i, t) for i, t, _, inside in _imports() if inside}
