"""analysis.metrics must stay plain Python/NumPy: importing it must not import Django."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import importlib, pkgutil, sys
import analysis.metrics as pkg
names = [pkg.__name__] + [pkg.__name__ + "." + m.name for m in pkgutil.iter_modules(pkg.__path__)]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
print(len(names))
assert not loaded, f"analysis.metrics imported Django modules: {loaded[:5]}"
"""


def test_metrics_package_does_not_import_django():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 7  # the package and its six modules were all imported
