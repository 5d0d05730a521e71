"""The loop that makes labels better, end to end through the API, on scikit-learn's digits.

    .venv/bin/python benchmarks/loop_bench.py [--seed 0] [--budget 0.05] [--campaign 0.05]

A throwaway SQLite database (in a temporary folder) holds a text project of the 1,797 digits
(``load_digits``, bundled with scikit-learn: no download). Three seeded simulated labelers answer
every item: a good one (3 % random slips), a mediocre one (15 % slips, half of them to a look-alike
digit) and one who swaps 1 ↔ 7 and 3 ↔ 8 (and slips 3 % otherwise). The answers are stored through
the labeling service (``annotation_save``, what the labeling API calls); everything else goes through
the API, in-process (DRF's test client with a reviewer's and a manager's token): the review queue,
SME decisions, pushed vectors (the 64 pixels) and a map job, the label-issue list, a relabel
campaign (filter ``likeliest_errors``), dataset version builds and their manifests. Worker jobs
(version builds, the map) run in this process.

Stages: the raw answers; an SME (always right) deciding the review queue's top ``--budget`` share of
the items; a map of the items (decisions as labels) whose label-issue scores join the queue's
``p_wrong``; a relabel campaign of another ``--campaign`` share chosen by ``likeliest_errors``, with
overlap 1, answered by a new labeler (as good as the good one) who shares no item with anyone.

After each stage: accuracy (labeled items whose label is the true digit), coverage (labeled items
of all) and extra cost (decisions and campaign answers over the first 3 × 1,797 answers), for the
default recipe and for Dawid–Skene; before the SME, the precision of the queue's top 5 % against
items whose shipped label (default recipe) is wrong, or missing (a tie ships none), and against
wrong labels only. CPU seconds are printed beside wall time.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOOK_ALIKE = {0: 6, 1: 7, 2: 7, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}
SWAP = {1: 7, 7: 1, 3: 8, 8: 3}


def setup_django(folder):
    os.environ.update(
        {
            "SQLITE_PATH": str(Path(folder) / "loop.sqlite3"),
            "MEDIA_ROOT": str(Path(folder) / "media"),
            "CELERY_BROKER_DIR": str(Path(folder) / "celery"),
            "LABELHUB_VAR_DIR": str(Path(folder)),
            "SECRET_KEY": "loop-bench",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "labelhub.settings",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def answer_of(rng, truth, who):
    """A simulated labeler's answer (a digit) to an item whose true digit is ``truth``."""
    if who == "swapper" and truth in SWAP:
        return SWAP[truth]
    slip = {"good": 0.03, "mediocre": 0.15, "swapper": 0.03, "newcomer": 0.03}[who]
    if rng.random() < slip:
        if who == "mediocre" and rng.random() < 0.5:
            return LOOK_ALIKE[truth]
        return int(rng.choice([d for d in range(10) if d != truth]))
    return truth


class Loop:
    def __init__(self, args):
        from django.contrib.auth import get_user_model
        from rest_framework.test import APIClient
        from sklearn.datasets import load_digits

        from accounts.services import token_create
        from labeling.choices import Role
        from labeling.services.projects import member_add, project_create

        self.args = args
        self.rng = np.random.default_rng(args.seed)
        digits = load_digits()
        self.pixels, self.truth_by_row = digits.data, digits.target
        User = get_user_model()
        self.users = {
            name: User.objects.create_user(name) for name in ("manager", "sme", "good", "mediocre", "swapper")
        }
        self.users["manager"].is_staff = True
        self.users["manager"].save()
        self.project = project_create(
            name="Digits loop",
            modality="text",
            classes=[{"key": str(d)} for d in range(10)],
            creator=self.users["manager"],
        )
        member_add(project=self.project, username="sme", role=Role.REVIEWER)
        for name in ("good", "mediocre", "swapper"):
            member_add(project=self.project, username=name, role=Role.LABELER)
        self.clients = {}
        for name in ("manager", "sme"):
            client = APIClient()
            _, token = token_create(user=self.users[name], name="loop benchmark")
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            self.clients[name] = client
        self.api = f"/api/projects/{self.project.pk}"
        self.extra = 0

    def call(self, who, method, path, body=None, status=(200,)):
        response = (
            getattr(self.clients[who], method)(path, body, format="json")
            if body is not None
            else getattr(self.clients[who], method)(path)
        )
        if response.status_code not in status:
            raise SystemExit(f"{method.upper()} {path}: {response.status_code} {response.content[:500]!r}")
        return response

    def seed_items(self):
        import hashlib

        from labeling.models import Item
        from labeling.services.annotations import annotation_save

        Item.objects.bulk_create(
            [
                Item(
                    project=self.project,
                    text=f"digit scan {i}",
                    sha256=hashlib.sha256(f"digit {i}".encode()).hexdigest(),
                )
                for i in range(len(self.truth_by_row))
            ]
        )
        self.items = list(Item.objects.filter(project=self.project).order_by("pk"))
        self.ids = np.array([i.pk for i in self.items])
        self.truth = {int(i): int(t) for i, t in zip(self.ids, self.truth_by_row, strict=True)}
        for item in self.items:
            truth = self.truth[item.pk]
            for who in ("good", "mediocre", "swapper"):
                annotation_save(item=item, labeler=self.users[who], value=str(answer_of(self.rng, truth, who)))
        self.n_answers = 3 * len(self.items)

    def build(self, recipe):
        from labeling.services.versions import version_build_run

        job = self.call("manager", "post", f"{self.api}/versions/", recipe, status=(202,)).json()["job"]
        version_build_run(job_id=job)
        versions = self.call("manager", "get", f"{self.api}/versions/").json()
        latest = versions["results"][0] if isinstance(versions, dict) else versions[0]
        manifest = self.call("manager", "get", f"{self.api}/versions/{latest['number']}/manifest")
        rows = [json.loads(line) for line in b"".join(manifest.streaming_content).decode().splitlines() if line]
        return {r["item"]: r["label"] for r in rows}, latest

    def score(self, labels):
        labeled = {i: lab for i, lab in labels.items() if lab is not None}
        right = sum(int(lab) == self.truth[i] for i, lab in labeled.items())
        return right / max(len(labeled), 1), len(labeled) / len(self.truth)

    def stage(self, name, results):
        row = {"stage": name, "extra_cost": self.extra / self.n_answers}
        for recipe_name, recipe in (("default", {}), ("dawid_skene", {"consensus": "dawid_skene"})):
            labels, version = self.build(recipe)
            accuracy, coverage = self.score(labels)
            row[recipe_name] = {
                "accuracy": accuracy,
                "coverage": coverage,
                "left_out": version["counts"].get("left_out_total"),
                "why": {k: v for k, v in version["counts"]["left_out"].items() if v},
            }
            if recipe_name == "default":
                self.shipped = labels
        results.append(row)
        d, ds = row["default"], row["dawid_skene"]
        print(
            f"{name:<22} default acc {d['accuracy']:.4f} cov {d['coverage']:.4f} "
            f"(left out {d['left_out']}: {d['why']})  "
            f"dawid-skene acc {ds['accuracy']:.4f} cov {ds['coverage']:.4f}  extra cost {row['extra_cost']:.2%}",
            flush=True,
        )

    def queue(self, n):
        rows = self.call("sme", "get", f"{self.api}/review-queue/?page_size={n}").json()["results"]
        return rows

    def calibration(self):
        """Mean p_wrong beside the observed share of wrong shipped labels, by p_wrong band (ties apart)."""
        rows = self.queue(1000)  # the API's largest page
        bands = [(0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01)]
        parts = []
        for lo, hi in bands:
            band = [r for r in rows if r["shipped"] is not None and lo <= r["p_wrong"] < hi]
            if band:
                observed = np.mean([int(r["shipped"]) != self.truth[r["item"]] for r in band])
                predicted = np.mean([r["p_wrong"] for r in band])
                parts.append(f"[{lo:.1f}, {min(hi, 1):.1f}) {predicted:.2f}/{observed:.2f} n={len(band)}")
        print(
            "calibration of p_wrong (mean predicted / observed wrong, majority-labeled queue rows): " + "; ".join(parts)
        )

    def queue_precision(self, n):
        self.calibration()
        top = [row["item"] for row in self.queue(n)]
        wrong = {i for i in self.truth if self.shipped.get(i) is None or int(self.shipped[i]) != self.truth[i]}
        wrong_label = {i for i in wrong if self.shipped.get(i) is not None}
        p_any = sum(i in wrong for i in top) / max(len(top), 1)
        p_label = sum(i in wrong_label for i in top) / max(len(top), 1)
        reach = min(len(wrong_label), len(top)) / max(len(top), 1)
        print(
            f"queue top {len(top)}: precision {p_any:.3f} against wrong or missing labels ({len(wrong)} items), "
            f"{p_label:.3f} against wrong labels only ({len(wrong_label)} items; {reach:.3f} at most); "
            f"{sum(i in top for i in wrong_label)} of the {len(wrong_label)} wrong labels in the top",
            flush=True,
        )
        return p_any, p_label

    def sme(self, n):
        rows = self.queue(n)
        for row in rows:
            self.call(
                "sme",
                "post",
                f"/api/items/{row['item']}/decision/",
                {"label": str(self.truth[row["item"]])},
                status=(201,),
            )
        self.extra += len(rows)

    def map(self):
        from analysis.services.maps import map_job_run

        for start in range(0, len(self.ids), 500):
            rows = [
                {"item": int(i), "vector": (self.pixels[k] / 16.0).tolist()}
                for k, i in enumerate(self.ids[start : start + 500], start=start)
            ]
            self.call(
                "manager", "post", f"{self.api}/embeddings/", {"model": "pixels", "vectors": rows}, status=(200, 201)
            )
        body = self.call("manager", "post", f"{self.api}/maps/", {"embedder": "pixels"}, status=(202,)).json()
        map_job_run(job_id=body["job"])
        flagged = self.call("sme", "get", f"{self.api}/label-issues/?limit=100000").json()["items"]
        wrong = {i for i in self.truth if self.shipped.get(i) is not None and int(self.shipped[i]) != self.truth[i]}
        hits = sum(row["item"] in wrong for row in flagged)
        print(f"map: {len(flagged)} items flagged, {hits} of them ship a wrong label ({len(wrong)} wrong in all)")

    def campaign(self, n):
        from labeling.choices import Role
        from labeling.models import Item
        from labeling.services.annotations import annotation_save
        from labeling.services.projects import member_add

        body = {"name": "likeliest errors", "filter": {"likeliest_errors": n}, "overlap": 1}
        campaign = self.call("sme", "post", f"{self.api}/campaigns/", body, status=(201,)).json()
        from django.contrib.auth import get_user_model

        newcomer = get_user_model().objects.create_user("newcomer")
        member_add(project=self.project, username="newcomer", role=Role.LABELER)
        for item in Item.objects.filter(pk__in=campaign["items"]):
            annotation_save(
                item=item, labeler=newcomer, value=str(answer_of(self.rng, self.truth[item.pk], "newcomer"))
            )
        self.extra += len(campaign["items"])
        detail = self.call("sme", "get", f"{self.api}/campaigns/{campaign['id']}/").json()["progress"]
        versus = detail["versus_archived"]
        print(
            f"campaign: {len(campaign['items'])} items; new answers agree with the archived ones "
            f"{versus['agreement']}, {versus['changed']} of {versus['n_compared']} items changed majority"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=0.05, help="SME decisions, as a share of the items")
    parser.add_argument("--campaign", type=float, default=0.05, help="campaign items, as a share of the items")
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as folder:
        setup_django(folder)
        loop = Loop(args)
        loop.seed_items()
        n = len(loop.items)
        top = max(1, round(0.05 * n))
        results = []
        loop.stage("raw answers", results)
        precision = loop.queue_precision(top)
        loop.sme(max(1, round(args.budget * n)))
        loop.stage("after the SME", results)
        loop.map()
        loop.stage("after the map", results)
        loop.campaign(max(1, round(args.campaign * n)))
        loop.stage("after the campaign", results)
    accuracy = [r["default"]["accuracy"] for r in results]
    print(
        f"default recipe never falls: {all(b >= a for a, b in zip(accuracy, accuracy[1:], strict=False))}; "
        f"after the campaign {accuracy[-1]:.4f} at {results[-1]['extra_cost']:.2%} extra; "
        f"queue top-5 % precision {precision[0]:.3f}"
    )
    print(f"wall {time.perf_counter() - wall:.1f} s, CPU {time.process_time() - cpu:.1f} s")


if __name__ == "__main__":
    main()
