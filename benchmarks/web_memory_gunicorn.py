"""gunicorn settings for benchmarks/web_memory_bench.py (``--config benchmarks/web_memory_gunicorn.py``): at its
exit each worker writes which heavy libraries it has imported to ``$LABELHUB_BENCH_MODULES_DIR/<pid>``."""

import json
import os
import sys

HEAVY = ("numpy", "scipy", "sklearn", "umap", "numba", "pynndescent", "pandas", "pyarrow", "onnxruntime", "PIL")


def worker_exit(server, worker):
    loaded = [name for name in HEAVY if name in sys.modules]
    path = os.path.join(os.environ["LABELHUB_BENCH_MODULES_DIR"], str(os.getpid()))
    with open(path, "w") as handle:
        json.dump(loaded, handle)
