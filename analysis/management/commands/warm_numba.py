"""``manage.py warm_numba``: compile the map job's numba kernels into the on-disk cache now.

The first map on a machine (or after an upgrade of numba, umap-learn or pynndescent) otherwise pays
their compilation inside the job. Run once after installing (``make warm``); later runs only load the
cache.
"""

import time

import numpy as np
from django.core.management.base import BaseCommand

from analysis.embeddings.projection import configure_numba_cache, knn_graph, project_2d


class Command(BaseCommand):
    help = "Compile the map job's numba kernels (NN-descent kNN, UMAP) into numba's on-disk cache."

    def handle(self, *args, **options):
        folder = configure_numba_cache()  # before numba is imported (projection imports it lazily)

        # 30,000 rows: pynndescent splits its trees with other kernels on small data
        X = np.random.default_rng(0).normal(size=(30_000, 64)).astype(np.float32)
        cpu, wall = time.process_time(), time.perf_counter()
        knn = knn_graph(X, 15, method="nndescent", seed=0)  # the path taken above 20,000 items
        project_2d(X, precomputed_knn=knn, n_neighbors=15, seed=None, n_epochs=10)  # as the map job
        self.stdout.write(
            f"numba kernels ready in {folder}: {time.process_time() - cpu:.1f} s CPU, "
            f"{time.perf_counter() - wall:.1f} s wall"
        )
