"""A labeler's long session on the labeling page, in headless Chromium: does the page stay fast, and does
it hold on to what it no longer shows?

    .venv/bin/python benchmarks/label_session_bench.py [--items 300] [--types image,text,...] [--port N]

Seeds a throwaway PostgreSQL database (127.0.0.1:5432, user postgres; its own name per run, dropped at the
end) and a throwaway media folder with one project per task type, each of --items items and one labeler:
image classification (64x64 scans), text classification, audio classification and transcription (1 s
clips), image detection (boxes) and audio segments (2 s clips). It serves the app with gunicorn (2
workers, DEBUG off) on a free loopback port, and, per task type, signs the labeler in on a fresh
Chromium page (Debian's, Playwright) and answers every item with the keyboard as a labeler does:

- image, text, audio classification: the class key, Enter;
- transcription: a few words typed in the transcript box, Enter;
- detection: x, arrows, Enter (first corner), Shift+arrows, Enter (the box), Enter (the answer);
- segments: [ at the playhead, Shift+ArrowRight (0.5 s on), ] (the segment), Enter.

Printed per task type, after item 10, half-way, 100, 300 and the last (those answered), after a forced
garbage collection, from the DevTools protocol: the JS heap used (Runtime.getHeapUsage), the DOM nodes
alive and the JS event listeners (Performance.getMetrics: Nodes and JSEventListeners, which count detached
nodes and the listeners of everything alive, not just the document's), the blob object URLs created and
not revoked, the session history's length; the time from the Enter that sends an answer to the next item
shown (its label written, its image decoded or its clip ready), median and p95 over the items since the
line before, measured inside the page (one animation frame of resolution); and the browser's CPU
milliseconds per item over those items (wall times swing with the shared machine's load, CPU time much
less). Then the wall time of the type's session and the CPU seconds the browser (every Chromium process)
and the server (gunicorn's processes and the database backends of this run's database) spent on it. A page
that leaks shows heap, nodes or listeners that grow with the items answered; one that stays fast shows
flat times.

The default run (100 items of each of the six types) takes two to three minutes on two shared cores;
--items 300 about three times as long.
"""

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labeling_bench import free_port  # noqa: E402
from map_page_bench import _stats, wait_until_serving  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DB = f"labelhub_bench_session_{os.getpid()}"
USER, PASSWORD = "bench-labeler", "bench-password"
TYPES = ("image", "text", "audio-class", "transcription", "detection", "segments")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

# Installed before the page's own scripts: when an answer was sent (its Enter), and the blob object URLs
# created and not revoked. One listener of the page's count is this one.
PAGE_PROBE = """
window.__bench = { sentAt: 0, urls: 0 };
addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) window.__bench.sentAt = performance.now();
}, true);
const create = URL.createObjectURL, revoke = URL.revokeObjectURL;
URL.createObjectURL = function (object) { window.__bench.urls++; return create.call(URL, object); };
URL.revokeObjectURL = function (url) { window.__bench.urls--; return revoke.call(URL, url); };
"""

# The next item is shown: another label, its image decoded, its clip ready. Answers the time since the Enter.
SHOWN = """(previous) => {
  const label = document.getElementById("item-label").textContent;
  if (!label.startsWith("item #") || label === previous) return false;
  const img = document.getElementById("image");
  if (img && !(img.complete && img.naturalWidth)) return false;
  const audio = document.getElementById("audio-viewer");
  if (audio && audio.dataset.ready !== label.slice(6)) return false;
  return performance.now() - window.__bench.sentAt;
}"""


def env(var_dir):
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "SECRET_KEY": "bench",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "labelhub.settings",
        "LABELHUB_VAR_DIR": str(var_dir),
        "CELERY_BROKER_DIR": str(Path(var_dir) / "celery"),
    }


def psql(sql):
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True)


# --- items ----------------------------------------------------------------------------------------------
def png(i):
    from PIL import Image

    pixels = np.random.default_rng(i).integers(0, 256, size=(64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def wav(i, seconds):
    rate = 8000
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * 32767 * np.sin(2 * np.pi * (200 + i) * t)).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


CLASSES = [{"key": k, "hotkey": str(n + 1)} for n, k in enumerate(("a", "b", "c"))]
PROJECTS = {  # task type: (modality, task type, classes, one entry's name and bytes or text)
    "image": ("image", "classification", CLASSES, lambda i: (f"i{i}.png", png(i), None)),
    "text": ("text", "classification", CLASSES, lambda i: (f"t{i}.txt", f"the text of item {i}".encode(), None)),
    "audio-class": ("audio", "classification", CLASSES, lambda i: (f"a{i}.wav", wav(i, 1), None)),
    "transcription": ("audio", "transcription", [], lambda i: (f"s{i}.wav", wav(i, 1), None)),
    "detection": ("image", "detection", CLASSES, lambda i: (f"d{i}.png", png(10_000 + i), None)),
    "segments": ("audio", "segments", CLASSES, lambda i: (f"g{i}.wav", wav(i, 2), None)),
}


def seed(types, n):
    """A labeler and one project of ``n`` items per task type: answers {task type: project id}."""
    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    User = get_user_model()
    manager = User.objects.create_user("bench-manager", password=PASSWORD)
    User.objects.create_user(USER, password=PASSWORD)
    projects = {}
    for kind in types:
        modality, task_type, classes, entry = PROJECTS[kind]
        project = project_create(
            name=f"session {kind}", modality=modality, task_type=task_type, classes=classes, creator=manager
        )
        member_add(project=project, username=USER, role="labeler")
        entries = []
        for i in range(n):
            name, content, text = entry(i)
            entries.append(ImportEntry(name=name, load=(lambda c=content: c) if content else None, text=text))
        imported = items_import(project=project, entries=entries).imported
        assert len(imported) == n, (kind, len(imported))
        projects[kind] = project.pk
    return projects


# --- measuring --------------------------------------------------------------------------------------------
def cpu(server_pid):
    """CPU seconds so far: (server: gunicorn's processes and this run's database backends, browser: this
    process's Chromium processes)."""
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
        return [pid for pid in pids if pid in stats]

    backends = 0.0
    for pid, (_, seconds, name) in stats.items():
        if name == "postgres":
            try:
                if f" {DB} " in Path(f"/proc/{pid}/cmdline").read_text():
                    backends += seconds
            except OSError:
                continue
    server = sum(stats[pid][1] for pid in tree(server_pid)) + backends
    browser = sum(stats[pid][1] for pid in tree(os.getpid()) if "chrom" in stats[pid][2].lower())
    return server, browser


def snapshot(page, cdp):
    """What the page holds now, after a garbage collection."""
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    urls, history = page.evaluate("() => [window.__bench.urls, history.length]")
    return {
        "heap": heap / 2**20,
        "nodes": int(metrics["Nodes"]),
        "listeners": int(metrics["JSEventListeners"]),
        "urls": urls,
        "history": history,
    }


def answer(page, kind):
    """Answer the item shown as a labeler does; the last key is the Enter that sends it."""
    keys = page.keyboard
    if kind in ("image", "text", "audio-class"):
        keys.press("1")
    elif kind == "transcription":
        keys.type("hello there")
    elif kind == "detection":
        for key in ["x", "Shift+ArrowLeft", "Shift+ArrowUp", "Enter", *["Shift+ArrowRight"] * 2, "Shift+ArrowDown"]:
            keys.press(key)
        keys.press("Enter")  # the box is made
    elif kind == "segments":
        # the playhead moves once the clip's length is known (the waveform is drawn before, from the server's)
        page.wait_for_function("() => document.getElementById('audio').duration > 0")
        for key in ("[", "Shift+ArrowRight", "]"):
            keys.press(key)
        page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    keys.press("Enter")


def session(browser, base, kind, project_id, n, checkpoints, server_pid):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(PAGE_PROBE)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    cpu0, started = cpu(server_pid), time.perf_counter()
    page.goto(f"{base}/projects/{project_id}/label/")
    previous = ""
    page.wait_for_function(SHOWN, arg=previous, polling="raf")
    previous = page.locator("#item-label").text_content()
    rows, times, window_cpu = [], [], cpu(server_pid)[1]
    for i in range(1, n + 1):
        answer(page, kind)
        if i < n:
            times.append(page.wait_for_function(SHOWN, arg=previous, polling="raf").json_value())
            previous = page.locator("#item-label").text_content()
        else:
            page.locator("#stage-message").filter(has_text="Nothing is left").wait_for()
        if i in checkpoints:
            browser_cpu = cpu(server_pid)[1]
            rows.append((i, snapshot(page, cdp), times, browser_cpu - window_cpu))
            times, window_cpu = [], cpu(server_pid)[1]  # the snapshot's own work left out
    page.wait_for_function(f"() => document.getElementById('mine-total').textContent === '{n}'")
    wall = time.perf_counter() - started
    cpu1 = cpu(server_pid)
    context.close()
    return rows, wall, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], errors


def report(kind, rows, wall, server_cpu, browser_cpu, errors, n):
    print(f"{kind}: {n} items in {wall:.1f} s wall; CPU: browser {browser_cpu:.1f} s, server {server_cpu:.1f} s")
    print(
        "  after item   heap MB   DOM nodes   listeners   object URLs   history   Enter -> next item ms "
        "(median / p95)   browser CPU ms/item"
    )
    done = 0
    for i, s, times, browser in rows:
        timing = f"{statistics.median(times):6.0f} / {np.percentile(times, 95):4.0f}" if times else "   - / -   "
        print(
            f"  {i:>10}   {s['heap']:7.2f}   {s['nodes']:9}   {s['listeners']:9}   {s['urls']:11}   "
            f"{s['history']:7}   {timing:>32}   {1000 * browser / (i - done):19.0f}"
        )
        done = i
    if errors:
        print(f"  page errors: {errors[:3]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100, help="items answered per task type (300: a longer look)")
    parser.add_argument("--types", default=",".join(TYPES), help=f"comma-separated, of {', '.join(TYPES)}")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = parser.parse_args()
    types = [t for t in args.types.split(",") if t]
    unknown = set(types) - set(TYPES)
    if unknown:
        parser.error(f"unknown task types: {', '.join(sorted(unknown))}")
    checkpoints = sorted({c for c in (10, args.items // 2, 100, 300, args.items) if 1 <= c <= args.items})
    port = args.port or free_port()
    var_dir = tempfile.mkdtemp(prefix="labelhub-session-bench-")
    os.environ.update(env(var_dir))
    server = None
    try:
        started = time.perf_counter()
        projects = seed(types, args.items)
        from django.db import connections

        connections.close_all()
        print(f"seeded {len(types)} projects of {args.items} items in {time.perf_counter() - started:.1f} s")
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "labelhub.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
            cwd=ROOT,
            env=env(var_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, server)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            for kind in types:
                result = session(browser, base, kind, projects[kind], args.items, checkpoints, server.pid)
                report(kind, *result, args.items)
            browser.close()
        print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
