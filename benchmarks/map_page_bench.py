"""How fast the map page shows 100,000 points in headless Chromium.

    .venv/bin/python benchmarks/map_page_bench.py [--points 100000] [--db NAME] [--port N]

Seeds a throwaway PostgreSQL database (127.0.0.1:5432, user postgres; its own name per run unless --db
names one) with a project of N items and a finished map of N points in ten clusters, serves the app with
gunicorn on 127.0.0.1 (a free port unless --port names one), logs in with
Debian's Chromium (Playwright) and times, three times, from the start of navigation to the moment the
page has drawn every point (the page sets data-ready on its map root after the WebGL draw), with the CPU
seconds each load cost the server (gunicorn's processes and the database's backends) and the browser
(every Chromium process): the machine is shared, and wall times swing with its load.
"""

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labeling_bench import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Its own database per run (two runs at once each dropped and seeded the other's), --db to name one.
DB = f"labelhub_bench_map_{os.getpid()}"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stats():
    """``{pid: (ppid, cpu seconds, command name)}`` of every process, from /proc."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
            stats[int(entry.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK, name)
    return stats


def cpu(server_pid):
    """CPU seconds so far of the server's processes with the database's backends serving this benchmark's
    database, and of this process's Chromium processes."""
    stats = _stats()
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root):
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, ()))
        return pids

    backends = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) in stats and stats[int(entry.name)][2] == "postgres":
            try:
                if f" {DB} " in (entry / "cmdline").read_text():
                    backends += stats[int(entry.name)][1]
            except OSError:
                continue
    server = sum(stats[pid][1] for pid in tree(server_pid) if pid in stats)
    browser = sum(stats[pid][1] for pid in tree(os.getpid()) if pid in stats and "chrom" in stats[pid][2].lower())
    return server + backends, browser


def env():
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "SECRET_KEY": "bench",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "labelhub.settings",
    }


def wait_until_serving(base, server, timeout=60):
    """Wait until the server answers its health check; exit if it stopped (the port taken after all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn stopped (exit {server.returncode}) before serving {base}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer on {base} within {timeout} s")


def seed(n):
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"], check=True
    )
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {DB}"], check=True)
    os.environ.update(env())
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import django

    django.setup()
    from agreement_bench import copy_rows
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from analysis.models import EmbeddingMap, MapPoint
    from labeling.models import Item
    from labeling.services.projects import project_create

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password")
    project = project_create(
        name="map bench", modality="text", classes=[{"key": f"c{k}"} for k in range(10)], creator=user
    )
    now = timezone.now()
    copy_rows(
        Item,
        ((project.pk, f"item {i}", f"{i:064x}", "{}", "{}", now, f"c{i % 10}") for i in range(n)),
        ["project_id", "text", "sha256", "metadata", "stats", "created", "label"],
    )
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(0)
    centres = rng.uniform(-0.8, 0.8, (10, 2))
    xy = centres[np.arange(n) % 10] + rng.normal(0, 0.06, (n, 2))
    emap = EmbeddingMap.objects.create(
        project=project, embedder="bench", finished=now, n_points=n, classes=[f"c{k}" for k in range(10)]
    )
    from labeling.services.jobs import job_create

    job = job_create(kind="map", project=project, user=user, params={"map": emap.pk})
    job.status = "succeeded"
    job.save()
    emap.job = job
    emap.save()
    copy_rows(
        MapPoint,
        (
            (emap.pk, ids[i], float(xy[i, 0]), float(xy[i, 1]), f"c{i % 10}", f"c{i % 10}", float(rng.random()), False)
            for i in range(n)
        ),
        ["map_id", "item_id", "x", "y", "label", "suggested_label", "score", "flagged"],
    )
    return project.pk


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--db", help="database name, created and dropped (default: labelhub_bench_map_PID)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = parser.parse_args()
    global DB
    DB = args.db or DB
    port = args.port or free_port()
    server = None
    try:
        project_id = seed(args.points)
        from django.db import connections

        connections.close_all()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "labelhub.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, server)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-password")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            times, server_cpu, browser_cpu = [], [], []
            for _ in range(3):
                cpu0 = cpu(server.pid)
                started = time.perf_counter()
                page.goto(f"{base}/projects/{project_id}/map/")
                page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
                times.append(time.perf_counter() - started)
                cpu1 = cpu(server.pid)
                server_cpu.append(cpu1[0] - cpu0[0])
                browser_cpu.append(cpu1[1] - cpu0[1])
                draw_ms = int(page.locator("#map-root").get_attribute("data-draw-ms"))
            count = page.locator("#map-count").inner_text()
            browser.close()
        print(
            f"map page with {args.points:,} points ({count}): navigation to drawn "
            f"{', '.join(f'{t:.2f}' for t in times)} s (best {min(times):.2f} s); "
            f"data fetch + WebGL draw inside the page {draw_ms} ms   target < 2 s"
        )
        print(
            f"  CPU per load, s: server (gunicorn + database backends) {', '.join(f'{c:.2f}' for c in server_cpu)}; "
            f"browser (Chromium) {', '.join(f'{c:.2f}' for c in browser_cpu)}; load average "
            f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"])


if __name__ == "__main__":
    main()
