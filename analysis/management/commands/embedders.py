import tempfile
import time

import numpy as np
from django.core.management.base import BaseCommand

from analysis.embeddings.base import MODALITIES
from analysis.embeddings.pretrained import record_speed
from analysis.services.embeddings import embedder_catalog, make_embedder, models_dir

# Enough items for a steady rate, few enough for `make embedders` to stay quick.
MEASURE_ITEMS = {"image": 128, "text": 512, "audio": 64}
CLIP_SECONDS = 4.0  # the measured audio clips: a spoken query or command


def _inputs(modality, n, folder, seed=0):
    """Synthetic inputs: noise photos of 320×240 (decoded and resized like real ones), sentences, and
    ``CLIP_SECONDS`` clips of noisy tones written as 16 kHz FLAC files into ``folder`` (decoded from their
    paths, as the map job does)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    if modality == "audio":
        import soundfile as sf

        t = np.arange(int(CLIP_SECONDS * 16000)) / 16000
        paths = []
        for i in range(n):
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.normal(size=t.size)
            paths.append(f"{folder}/{i}.flac")
            sf.write(paths[-1], wave, 16000)
        return paths
    if modality == "image":
        return [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(n)]
    words = [
        "the",
        "a",
        "label",
        "cat",
        "dog",
        "photo",
        "of",
        "on",
        "in",
        "with",
        "red",
        "blue",
        "small",
        "large",
        "runs",
        "sits",
        "near",
        "under",
    ]
    return [" ".join(rng.choice(words, size=int(rng.integers(5, 30)))) for _ in range(n)]


class Command(BaseCommand):
    help = "List the embedders of this installation (dimension, installed, speed); --measure times them here."

    def add_arguments(self, parser):
        parser.add_argument("--measure", action="store_true", help="time the installed pretrained embedders")

    def handle(self, *args, measure=False, **options):
        for modality in MODALITIES:
            for row in embedder_catalog(modality=modality):
                if measure and row["kind"] == "pretrained" and row["installed"]:
                    with tempfile.TemporaryDirectory() as folder:
                        items = _inputs(modality, MEASURE_ITEMS[modality], folder)
                        embedder = make_embedder(name=row["name"], modality=modality)
                        embedder.embed(items[:8])  # opens the model: not part of the rate
                        started = time.perf_counter()
                        embedder.embed(items)
                        row["items_per_second"] = len(items) / (time.perf_counter() - started)
                    record_speed(models_dir(), row["name"], row["items_per_second"])
                speed = f"{row['items_per_second']:.0f} items/s" if row["items_per_second"] else "speed not measured"
                state = "installed" if row["installed"] else "not installed (make embedders)"
                default = " [default]" if row["default"] else ""
                dim = row["dim"] or "?"
                self.stdout.write(
                    f"{modality:<6} {row['name']:<20} {row['kind']:<10} {dim:>5}-d  {state}, {speed}{default}"
                )
