"""The demo: real data made by others (scikit-learn's handwritten digits, synthesized spoken queries),
labeled by a few simulated labelers whose disagreements look like real ones."""

import io
import json
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from PIL import Image

from analysis.services.training import training_job_run, training_job_start
from labeling.choices import Role, Trainer
from labeling.models import Project
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add, project_create
from labeling.services.sources import source_create
from labeling.services.versions import version_build_run, version_build_start

DEMO_PASSWORD = "labelhub-demo"
DEMO_USERS = [
    ("manager", Role.MANAGER, "creates projects, imports data, builds dataset versions"),
    ("sme", Role.REVIEWER, "subject-matter expert: reviews disagreements"),
    ("alice", Role.LABELER, "careful labeler"),
    ("bob", Role.LABELER, "fast labeler, a little noisier"),
    ("carol", Role.LABELER, "often reads a looped 9 as a 4"),
    ("dave", Role.LABELER, "new labeler with nothing labeled yet"),
]
DIGITS_PROJECT = "Handwritten digits (demo)"
SPEECH_PROJECT = "Spoken queries (demo)"
SPEECH_DIR = Path(__file__).resolve().parent / "demo_data" / "speech"
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# keyboard order, zero last as on a keyboard's top row; the guideline below names these keys
DIGIT_CLASSES = [{"key": str(d), "name": DIGIT_NAMES[d], "hotkey": str(d)} for d in [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]]
N_LABELED_DIGITS = 360

DIGITS_GUIDELINE = """# Handwritten digits — labeling guideline v1

Label each scan with the digit the writer meant.

* Press the digit's key (**0**–**9**).
* A **looped 9** has a closed top loop; a **4** has an open top. If you cannot tell, answer
  **Borderline** and choose the two digits it sits between.
* A scan that is not a digit at all (a smudge, a letter) is **out of domain**.
* If the scan is too faint to read, mark it **uncertain** rather than guessing.
"""

SPEECH_GUIDELINE = """# Spoken queries — transcription guideline v1

Write what the speaker says, in lower case, without punctuation.

* Keep filler words exactly as **um** (not "umm", "uh", "erm").
* Words you cannot make out: write **[unintelligible]** in their place.
* Background speech is not transcribed; mark the clip **uncertain** if it drowns the query.
"""

SPEECH_CONVENTIONS = """- lower case, no punctuation
- fillers: write `um` (never umm / uh / erm)
- unclear words: `[unintelligible]`
- numbers as words: "ten minutes"
"""


def ensure_users():
    """Create (or reset the passwords of) the demo users; answer {username: user}."""
    User = get_user_model()
    users = {}
    for username, _role, _ in DEMO_USERS:
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            if username == "manager":
                user.is_staff = True
                user.is_superuser = True
            user.save()
        users[username] = user
    return users


def _digit_png(pixels):
    """An 8x8 scan (0-16) as a 64x64 grey PNG: ink dark on white, as a scanner would give it."""
    array = (255 - np.asarray(pixels, dtype=np.float64) * (255 / 16)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(array.reshape(8, 8), mode="L").resize((64, 64), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _simulated_answer(rng, truth, labeler, loop_score):
    """One simulated labeler's answer to a digit whose true class is ``truth``."""
    if labeler == "carol" and truth == 9 and loop_score > 0:
        return {"value": "4"}  # carol's systematic confusion: the jaguar case in miniature
    noise = {"alice": 0.03, "bob": 0.08, "carol": 0.05}[labeler]
    if truth in (1, 7) and rng.random() < 0.12:
        other = 7 if truth == 1 else 1
        if rng.random() < 0.5 and labeler != "bob":
            return {"value": str(truth), "borderline": True, "borderline_with": str(other)}
        return {"value": str(other)}
    if rng.random() < noise:
        return {"value": str(int(rng.integers(0, 10)))}
    if rng.random() < 0.01:
        return {"value": "", "uncertain": True}
    return {"value": str(truth)}


@transaction.atomic
def seed_digits(users, *, log=print):
    from sklearn.datasets import load_digits

    manager = users["manager"]
    project = project_create(
        name=DIGITS_PROJECT,
        modality="image",
        task_type="classification",
        description="1,797 real handwritten digit scans (UCI, bundled with scikit-learn), upscaled to 64x64 PNG.",
        classes=DIGIT_CLASSES,
        options={"borderline": True, "uncertain": True, "out_of_domain": True},
        overlap=3,
        creator=manager,
    )
    for username, role, _ in DEMO_USERS:
        if username != "manager":
            member_add(project=project, username=username, role=role)
    guideline_publish(project=project, text=DIGITS_GUIDELINE, author=users["sme"])
    owned = source_create(
        project=project,
        name="Scanned forms (owned)",
        kind="owned",
        planned_amount=1200,
        unit="items",
        total_cost=0,
        currency="USD",
        turnaround_days=0,
        status="available",
        quality_notes="Consistent scanner; some faint pencil forms.",
        licence="Internal use.",
    )
    crowd = source_create(
        project=project,
        name="Crowdsourced scans",
        kind="crowdsourced",
        planned_amount=597,
        unit="items",
        total_cost=300,
        currency="USD",
        turnaround_days=7,
        status="available",
        quality_notes="Phone cameras, variable lighting.",
        contains_personal_data=True,
        licence="Contributor consent on file.",
        regulatory_notes="Strip names written beside the digits.",
    )
    source_create(
        project=project,
        name="Purchased archive",
        kind="purchased",
        planned_amount=10000,
        unit="items",
        total_cost=5000,
        currency="USD",
        turnaround_days=30,
        status="idea",
        licence="Commercial, 3 years.",
    )
    source_create(
        project=project,
        name="Synthetic renders",
        kind="synthetic",
        planned_amount=50000,
        unit="items",
        total_cost=200,
        currency="USD",
        turnaround_days=3,
        status="acquiring",
        quality_notes="Font-rendered digits with elastic distortion; unlike real handwriting.",
    )
    digits = load_digits()
    ink = digits.data.sum(axis=1)
    # The crowdsourced batch came with labels from a vendor whose labeling tool put "4" next to "9":
    # most of one visual kind of nine (closed upper loop) arrived labeled 4 — the jaguar case.
    nines = digits.data[digits.target == 9]
    loop_axis = nines.mean(axis=0) - digits.data[digits.target == 4].mean(axis=0)
    vendor_confused = (digits.target == 9) & ((digits.data - nines.mean(axis=0)) @ loop_axis > 0)
    faint_cut, bold_cut = np.quantile(ink, [0.2, 0.8])
    entries = []
    for index, (pixels, target) in enumerate(zip(digits.data, digits.target, strict=True)):
        tags = ["scan-batch-1" if index < 1200 else "scan-batch-2"]
        if ink[index] <= faint_cut:
            tags.append("faint")
        elif ink[index] >= bold_cut:
            tags.append("bold")
        data = _digit_png(pixels)
        entries.append(
            ImportEntry(
                name=f"digit-{index:04d}.png",
                load=lambda data=data: data,
                tags=tags,
                source=owned if index < 1200 else crowd,
                label="4" if index >= 1200 and vendor_confused[index] else str(int(target)),
                metadata={"uci_index": index, "uci_label": int(target)},
            )
        )
    report = items_import(project=project, entries=entries)
    log(f"  digits: {len(report.imported)} items imported")

    # Simulated labelers answer the first items; a sub-cluster of nines (closed upper loop, by a fixed
    # pixel pattern) fools carol into "4".
    rng = np.random.default_rng(7)
    items = list(project.items.order_by("id")[:N_LABELED_DIGITS])
    for item in items:
        pixels = digits.data[item.metadata["uci_index"]]
        truth = item.metadata["uci_label"]
        loop_score = float((pixels - nines.mean(axis=0)) @ loop_axis) if truth == 9 else 0.0
        for labeler in ("alice", "bob", "carol"):
            answer = _simulated_answer(rng, truth, labeler, loop_score)
            annotation_save(item=item, labeler=users[labeler], seconds=float(rng.gamma(3.0, 1.4)), **answer)
    log(f"  digits: {len(items) * 3} answers by alice, bob and carol")
    return project


def _speech_variants(rng, transcript, condition, labeler):
    """How each simulated labeler writes a query: the conventions they disagree on."""
    text = transcript
    if labeler == "bob":
        text = text.replace("um ", "umm, ").capitalize()
    if labeler == "carol" and text.startswith("um "):
        text = text[3:]
    if condition in ("people-noise", "low-bandwidth") and rng.random() < 0.4:
        words = text.split()
        words[-1] = "[unintelligible]"
        text = " ".join(words)
    if labeler == "bob" and rng.random() < 0.3:
        text += "."
    return text


@transaction.atomic
def seed_speech(users, *, log=print):
    manager = users["manager"]
    project = project_create(
        name=SPEECH_PROJECT,
        modality="audio",
        task_type="transcription",
        description="32 spoken voice-search queries (espeak-ng voices) in four recording conditions.",
        options={"uncertain": True, "out_of_domain": True},
        overlap=3,
        creator=manager,
        transcription_conventions=SPEECH_CONVENTIONS,
    )
    for username, role, _ in DEMO_USERS:
        if username != "manager":
            member_add(project=project, username=username, role=role)
    guideline_publish(project=project, text=SPEECH_GUIDELINE, author=users["sme"])
    owned = source_create(
        project=project,
        name="In-car recordings (owned)",
        kind="owned",
        planned_amount=100,
        unit="hours",
        total_cost=0,
        currency="USD",
        turnaround_days=0,
        status="available",
    )
    source_create(
        project=project,
        name="Crowdsourced reading",
        kind="crowdsourced",
        planned_amount=1000,
        unit="hours",
        total_cost=10000,
        currency="USD",
        turnaround_days=21,
        status="acquiring",
        contains_personal_data=True,
        licence="Speaker consent forms.",
    )
    source_create(
        project=project,
        name="Paid transcription",
        kind="purchased",
        planned_amount=100,
        unit="hours",
        total_cost=6000,
        currency="USD",
        turnaround_days=14,
        status="idea",
    )
    source_create(
        project=project,
        name="Purchased speech corpus",
        kind="purchased",
        planned_amount=1000,
        unit="hours",
        total_cost=10000,
        currency="USD",
        turnaround_days=45,
        status="idea",
        regulatory_notes="GDPR: EU speakers.",
    )
    manifest = json.loads((SPEECH_DIR / "manifest.json").read_text())
    entries = [
        ImportEntry(
            name=row["file"],
            load=lambda path=SPEECH_DIR / row["file"]: path.read_bytes(),
            tags=[row["condition"]],
            source=owned,
            metadata={"reference": row["transcript"], "voice": row["voice"]},
        )
        for row in manifest
    ]
    report = items_import(project=project, entries=entries)
    log(f"  speech: {len(report.imported)} clips imported")
    rng = np.random.default_rng(11)
    items = list(project.items.order_by("id")[:24])
    for item in items:
        reference = item.metadata["reference"]
        condition = next(t.name for t in item.tags.all())
        for labeler in ("alice", "bob", "carol"):
            text = _speech_variants(rng, reference, condition, labeler)
            annotation_save(item=item, labeler=users[labeler], value=text, seconds=float(rng.gamma(4.0, 2.0)))
    log(f"  speech: {len(items) * 3} transcripts by alice, bob and carol")
    return project


def seed_demo(*, log=print):
    """Create the demo users and projects unless they exist; safe to run any number of times."""
    users = ensure_users()
    if not Project.objects.filter(name=DIGITS_PROJECT).exists():
        seed_training_run(seed_digits(users, log=log), users, log=log)
    if not Project.objects.filter(name=SPEECH_PROJECT).exists():
        seed_speech(users, log=log)
    if not Project.objects.filter(name=TOUCHING_PROJECT).exists():
        seed_touching(users, log=log)
    if not Project.objects.filter(name=SILENCE_PROJECT).exists():
        seed_silence(users, log=log)
    if not Project.objects.filter(name=SENTIMENT_PROJECT).exists():
        seed_sentiment(users, log=log)
    return users


def seed_training_run(project, users, *, log=print):
    """Build a dataset version of ``project`` and train the built-in classifier on its train split, both
    inline (the worker may not be running yet; the queued messages find their jobs finished and are
    dropped). The error analysis of the run then compares the model with HLP on the version's dev and
    test items only: the items the model never saw."""
    manager = users["manager"]
    version = version_build_run(job_id=version_build_start(project=project, user=manager, recipe={}).pk)
    training = training_job_start(
        project=project, version=version, trainer=Trainer.LOGISTIC_REGRESSION, params={}, user=manager
    )
    training_job_run(job_id=training.job_id)
    run = training.model_runs.get()
    log(f"  {project.name}: dataset version v{version.number} and a model run ({run.name})")
    return run


# --------------------------------------------------------------------------------------------------
# Localized demos: boxes on composed digit scenes, speech segments on the spoken-query clips.

TOUCHING_PROJECT = "Touching digits (demo)"
SILENCE_PROJECT = "Speech in silence (demo)"
N_SCENES = 60
N_LABELED_SCENES = 45  # the rest stay open: dave (and anyone) has a queue
SCENE_SIZE = 256
N_LABELED_CLIPS = 24
# Digits whose lower stroke is a "tail" carol leaves out of her box, as one iguana labeler left out the tail.
TAILED_DIGITS = {2, 4, 7, 9}
LEAD_SILENCE = 0.8  # seconds of silence added before and after each clip
TRAIL_SILENCE = 0.8

TOUCHING_GUIDELINE = """# Touching digits — labeling guideline v1

Draw a box round every handwritten digit in the scene and give it the digit's class.

* The box is **tight**: it touches the outermost ink on all four sides.
* Include the whole digit, **tail included** (the stem of a 7 or a 9, the foot of a 2).
* **Open question:** two touching digits — two boxes, or one box round both? Until the SME
  settles it we say: **two touching digits: two boxes**, one per digit.
"""

SILENCE_GUIDELINE = """# Speech in silence — segmentation guideline v1

Mark where the query is spoken (class **speech**) and, where other voices or noise are loud enough
to hear over it, mark that stretch as **noise**.

* A segment starts at the first sound of the first word and ends at the last sound of the last word.
* **Open question:** how much silence before and after the speech belongs in the segment? Until the
  SME settles it we say: **include at most 0.1 s of silence** on either side.
* A short pause between words stays inside one segment.
"""


def _scene_digit(pixels, scale):
    """An 8x8 scan (0-16) as ink darkness (0-1) of ``8*scale`` pixels a side, and its tight ink box
    (x0, y0, x1, y1) in its own pixels."""
    ink = np.asarray(pixels, dtype=np.float64).reshape(8, 8) / 16
    image = Image.fromarray((ink * 255).astype(np.uint8), mode="L").resize(
        (8 * scale, 8 * scale), Image.Resampling.BILINEAR
    )
    dark = np.asarray(image, dtype=np.float64) / 255
    rows, cols = np.nonzero(dark > 0.25)
    return dark, (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)


def _paste(darkness, boxes, digits, index, x, y, scale):
    """Paste scan ``index`` at (x, y) into ``darkness`` (darker ink wins where scans overlap), add its
    true box to ``boxes``; answer the x of its ink's right edge."""
    dark, (bx0, by0, bx1, by1) = _scene_digit(digits.data[index], scale)
    h, w = dark.shape
    region = darkness[y : y + h, x : x + w]
    np.maximum(region, dark, out=region)
    boxes.append((x + bx0, y + by0, x + bx1, y + by1, int(digits.target[index])))
    return x + bx1


def _free(taken, x0, y0, x1, y1, gap=6):
    """Whether a box keeps ``gap`` pixels away from every box in ``taken``."""
    return all(x1 + gap <= a or b + gap <= x0 or y1 + gap <= c or d + gap <= y0 for a, c, b, d in taken)


def touching_scenes(n=N_SCENES, *, seed=3):
    """Compose ``n`` scenes from scikit-learn's digit scans: each a SCENE_SIZE² grey PNG and its true
    boxes ``[(x0, y0, x1, y1, digit)]`` in pixels, plus ``pairs`` (indices of true boxes that touch).

    Two of every three scenes have a touching (or slightly overlapping) pair — half of them the same
    digit twice, as in a house number "77" — so the one-box-or-two question arises; the other digits
    stand apart."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(digits.target == d) for d in range(10)]
    scenes = []
    for _ in range(n):
        darkness = np.zeros((SCENE_SIZE, SCENE_SIZE))
        boxes, pairs, taken = [], [], []
        if rng.random() < 2 / 3:
            scale = int(rng.integers(5, 8))
            first = int(rng.integers(0, 10))
            second = first if rng.random() < 0.5 else int(rng.integers(0, 10))
            x, y = int(rng.integers(4, 60)), int(rng.integers(4, SCENE_SIZE - 8 * scale - 4))
            right_ink = _paste(darkness, boxes, digits, int(rng.choice(by_class[first])), x, y, scale)
            # The second scan starts where the first one's ink ends, minus a few pixels: touching.
            index = int(rng.choice(by_class[second]))
            _, (bx0, _, _, _) = _scene_digit(digits.data[index], scale)
            _paste(
                darkness,
                boxes,
                digits,
                index,
                right_ink - bx0 - int(rng.integers(0, 4)),
                y + int(rng.integers(-3, 4)),
                scale,
            )
            pairs.append((0, 1))
            xs = [b[0] for b in boxes] + [b[2] for b in boxes]
            ys = [b[1] for b in boxes] + [b[3] for b in boxes]
            taken.append((min(xs), min(ys), max(xs), max(ys)))
        for _attempt in range(40):
            if len(boxes) >= 5:
                break
            scale = int(rng.integers(4, 8))
            size = 8 * scale
            x, y = (int(v) for v in rng.integers(2, SCENE_SIZE - size - 2, size=2))
            if _free(taken, x, y, x + size, y + size):
                taken.append((x, y, x + size, y + size))
                _paste(darkness, boxes, digits, int(rng.integers(0, len(digits.target))), x, y, scale)
        image = Image.fromarray((255 * (1 - darkness)).clip(0, 255).astype(np.uint8), mode="L")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        scenes.append({"png": buffer.getvalue(), "boxes": boxes, "pairs": pairs})
    return scenes


def _box(x0, y0, x1, y1, label):
    """A pixel box as a detection answer's shape (fractions of the scene, clipped to it)."""
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(SCENE_SIZE), x1), min(float(SCENE_SIZE), y1)
    return {
        "x": round(x0 / SCENE_SIZE, 4),
        "y": round(y0 / SCENE_SIZE, 4),
        "w": round((x1 - x0) / SCENE_SIZE, 4),
        "h": round((y1 - y0) / SCENE_SIZE, 4),
        "label": str(label),
    }


def _simulated_boxes(rng, scene, labeler):
    """One simulated labeler's boxes on a scene: alice draws tight boxes for each digit; bob draws one
    box round two touching digits (labelled as the left one); carol is tight but crops the tail of a
    2, 4, 7 or 9. Everybody's corners carry a little seeded jitter."""
    boxes = scene["boxes"]
    merged = {i for pair in scene["pairs"] for i in pair} if labeler == "bob" else set()
    jitter = {"alice": 1.0, "bob": 2.5, "carol": 1.5}[labeler]
    shapes = []
    for a, b in scene["pairs"] if labeler == "bob" else ():
        (ax0, ay0, ax1, ay1, label), (bx0, by0, bx1, by1, _) = boxes[a], boxes[b]
        corners = np.array([min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)], dtype=float)
        shapes.append(_box(*(corners + rng.normal(0, jitter, 4)), label))
    for i, (x0, y0, x1, y1, label) in enumerate(boxes):
        if i in merged:
            continue
        corners = np.array([x0, y0, x1, y1], dtype=float) + rng.normal(0, jitter, 4)
        if labeler == "carol" and label in TAILED_DIGITS:
            corners[3] -= (y1 - y0) * rng.uniform(0.25, 0.45)  # the tail left out
        shapes.append(_box(*corners, label))
    return {"boxes": shapes}


def _add_demo_members(project, users, guideline):
    for username, role, _ in DEMO_USERS:
        if username != "manager":
            member_add(project=project, username=username, role=role)
    guideline_publish(project=project, text=guideline, author=users["sme"])


@transaction.atomic
def seed_touching(users, *, log=print):
    """The detection demo: composed digit scenes where labelers disagree on one box or two."""
    project = project_create(
        name=TOUCHING_PROJECT,
        modality="image",
        task_type="detection",
        description=(
            f"{N_SCENES} scenes of {SCENE_SIZE}x{SCENE_SIZE} px composed from scikit-learn's bundled UCI digit "
            "scans; in two of three scenes two digits touch. Labelers disagree on one box or two."
        ),
        classes=DIGIT_CLASSES,
        options={"borderline": True, "uncertain": True},
        overlap=3,
        creator=users["manager"],
    )
    _add_demo_members(project, users, TOUCHING_GUIDELINE)
    scenes = touching_scenes()
    entries = [
        ImportEntry(
            name=f"scene-{n:02d}.png",
            load=lambda data=scene["png"]: data,
            tags=["touching" if scene["pairs"] else "apart"],
            metadata={
                "scene": n,
                "true_boxes": [_box(*box) for box in scene["boxes"]],
                "touching_pairs": scene["pairs"],
            },
        )
        for n, scene in enumerate(scenes)
    ]
    report = items_import(project=project, entries=entries)
    log(f"  touching digits: {len(report.imported)} scenes imported")
    rng = np.random.default_rng(13)
    items = list(project.items.order_by("id")[:N_LABELED_SCENES])
    for item in items:
        scene = scenes[item.metadata["scene"]]
        for labeler in ("alice", "bob", "carol"):
            annotation_save(
                item=item,
                labeler=users[labeler],
                value=_simulated_boxes(rng, scene, labeler),
                seconds=float(rng.gamma(4.0, 3.0)),
            )
    log(f"  touching digits: {len(items) * 3} box answers by alice, bob and carol")
    return project


def _speech_bounds(signal, rate, *, threshold_db=-30.0, frame=0.02):
    """The true speech of a clean clip by an energy threshold: (start, end) in seconds of the first and
    last 20 ms frame within ``threshold_db`` of the loudest, and the longest pause inside as (start, end)
    (None if the speech never dips below it)."""
    size = int(rate * frame)
    n = len(signal) // size
    energy = np.sqrt((signal[: n * size].reshape(n, size) ** 2).mean(axis=1))
    loud = 20 * np.log10(energy / energy.max() + 1e-12) > threshold_db
    on = np.flatnonzero(loud)
    first, last = int(on[0]), int(on[-1])
    pause, run_start = None, None
    for k in range(first, last + 1):
        if not loud[k] and run_start is None:
            run_start = k
        elif loud[k] and run_start is not None:
            if pause is None or k - run_start > pause[1] - pause[0]:
                pause = (run_start, k)
            run_start = None
    as_seconds = None if pause is None else (pause[0] * frame, pause[1] * frame)
    return first * frame, (last + 1) * frame, as_seconds


def silence_clips(*, seed=5):
    """The spoken-query clips with LEAD_SILENCE / TRAIL_SILENCE seconds of near-silence (a -66 dBFS
    hiss) added: ``[{"file", "flac", "duration", "speech": (start, end), "pause", "span", ...}]``;
    the speech bounds come from the query's clean recording, shifted by the lead."""
    import soundfile

    rng = np.random.default_rng(seed)
    manifest = json.loads((SPEECH_DIR / "manifest.json").read_text())
    clean = {}
    clips = []
    for row in manifest:
        query = row["file"].split("-", 1)[0]
        if query not in clean:
            signal, rate = soundfile.read(SPEECH_DIR / f"{query}-clean.flac", dtype="float64")
            clean[query] = _speech_bounds(signal, rate)
        signal, rate = soundfile.read(SPEECH_DIR / row["file"], dtype="float64")
        lead, trail = (rng.normal(0, 5e-4, int(rate * s)) for s in (LEAD_SILENCE, TRAIL_SILENCE))
        padded = np.concatenate([lead, signal, trail]).clip(-1, 1)
        buffer = io.BytesIO()
        soundfile.write(buffer, padded, rate, format="FLAC", subtype="PCM_16")
        start, end, pause = clean[query]
        clips.append(
            {
                **row,
                "flac": buffer.getvalue(),
                "duration": len(padded) / rate,
                "speech": (LEAD_SILENCE + start, LEAD_SILENCE + end),
                "pause": None if pause is None else (LEAD_SILENCE + pause[0], LEAD_SILENCE + pause[1]),
                "span": (LEAD_SILENCE, LEAD_SILENCE + len(signal) / rate),
            }
        )
    return clips


def _segment(start, end, label, duration):
    start, end = max(0.0, start), min(duration - 1e-3, end)
    return {"start": round(start, 3), "end": round(end, 3), "label": label}


def _simulated_segments(rng, clip, labeler):
    """One simulated labeler's segments: alice keeps within 0.1 s of silence; bob takes generous
    margins (up to most of the added silence); carol starts late, runs the trailing breath in and, on
    some clips, splits the query at its longest pause. Where other voices babble (people-noise),
    alice and carol also mark the babble as noise; bob does not."""
    start, end = clip["speech"]
    duration = clip["duration"]
    if labeler == "alice":
        shapes = [_segment(start - rng.uniform(0, 0.08), end + rng.uniform(0, 0.08), "speech", duration)]
    elif labeler == "bob":
        shapes = [_segment(start - rng.uniform(0.3, 0.8), end + rng.uniform(0.3, 0.8), "speech", duration)]
    else:
        first, last = start + rng.uniform(0, 0.06), end + rng.uniform(0.15, 0.35)
        if clip["pause"] is not None and rng.random() < 0.4:
            cut0, cut1 = clip["pause"]
            shapes = [_segment(first, cut0, "speech", duration), _segment(cut1, last, "speech", duration)]
        else:
            shapes = [_segment(first, last, "speech", duration)]
    if clip["condition"] == "people-noise" and labeler != "bob":
        span0, span1 = clip["span"]
        shapes.append(_segment(span0 + rng.uniform(0, 0.1), span1 - rng.uniform(0, 0.1), "noise", duration))
    return {"segments": shapes}


@transaction.atomic
def seed_silence(users, *, log=print):
    """The segments demo: where is the speech, and how much silence belongs to it."""
    project = project_create(
        name=SILENCE_PROJECT,
        modality="audio",
        task_type="segments",
        description=(
            "The 32 spoken-query clips with 0.8 s of silence added before and after. Labelers disagree on "
            "how much of the silence belongs to the speech."
        ),
        classes=[{"key": "speech", "name": "speech", "hotkey": "1"}, {"key": "noise", "name": "noise", "hotkey": "2"}],
        options={"uncertain": True},
        overlap=3,
        creator=users["manager"],
    )
    _add_demo_members(project, users, SILENCE_GUIDELINE)
    clips = silence_clips()
    entries = [
        ImportEntry(
            name=clip["file"],
            load=lambda data=clip["flac"]: data,
            tags=[clip["condition"]],
            metadata={
                "clip": n,
                "reference": clip["transcript"],
                "true_speech": [round(t, 3) for t in clip["speech"]],
            },
        )
        for n, clip in enumerate(clips)
    ]
    report = items_import(project=project, entries=entries)
    log(f"  speech in silence: {len(report.imported)} clips imported")
    rng = np.random.default_rng(17)
    items = list(project.items.order_by("id")[:N_LABELED_CLIPS])
    for item in items:
        clip = clips[item.metadata["clip"]]
        for labeler in ("alice", "bob", "carol"):
            annotation_save(
                item=item,
                labeler=users[labeler],
                value=_simulated_segments(rng, clip, labeler),
                seconds=float(rng.gamma(4.0, 2.5)),
            )
    log(f"  speech in silence: {len(items) * 3} segment answers by alice, bob and carol")
    return project


# --------------------------------------------------------------------------------------------------
# Text demo: the sentiment of words, answered by real people (three of VADER's ten raters per word).

SENTIMENT_PROJECT = "Sentiment of words (demo)"
SENTIMENT_FILE = Path(__file__).resolve().parent / "demo_data" / "sentiment" / "vader_sample.tsv"
N_LABELED_WORDS = 240  # the rest stay open for dave
SENTIMENT_RATERS = ("alice", "bob", "carol")  # VADER's first, second and third raters of each word

SENTIMENT_GUIDELINE = """# Sentiment of words — labeling guideline v1

Label the feeling the word carries on its own, as a reader of social media would take it.

* **negative** (1): the word expresses or evokes a bad feeling (*abandon*, *awful*).
* **neutral** (2): no feeling either way.
* **positive** (3): the word expresses or evokes a good feeling (*acceptance*, *awesome*).
* Mark **borderline** when the feeling is only slight: b, the class, then neutral (b 3 2).

Open question: is a slight feeling (a rating of ±1) neutral or not?
"""


def sentiment_words():
    """The vendored sample of the VADER lexicon: token, mean, and the ten human ratings (-4..4) of each."""
    rows = []
    for line in SENTIMENT_FILE.read_text(encoding="utf-8").splitlines()[1:]:
        token, mean, _std, ratings = line.split("\t")
        rows.append({"token": token, "mean": float(mean), "ratings": json.loads(ratings)})
    return rows


def sentiment_class(rating: int) -> str:
    return "negative" if rating < 0 else "positive" if rating > 0 else "neutral"


@transaction.atomic
def seed_sentiment(users, *, log=print):
    """The text demo. The answers are real: three of the ten raters who rated each word for VADER, so
    the disagreement is people's own, concentrated on the borderline between a slight feeling and none."""
    project = project_create(
        name=SENTIMENT_PROJECT,
        modality="text",
        task_type="classification",
        description=(
            "300 words of the VADER sentiment lexicon (Hutto & Gilbert 2014, MIT licence), each rated by ten "
            "people; alice, bob and carol's answers are three of those raters' real ratings."
        ),
        classes=[
            {"key": "negative", "name": "negative", "hotkey": "1"},
            {"key": "neutral", "name": "neutral", "hotkey": "2", "description": "no feeling either way"},
            {"key": "positive", "name": "positive", "hotkey": "3"},
        ],
        options={"borderline": True, "uncertain": True},
        overlap=3,
        creator=users["manager"],
    )
    _add_demo_members(project, users, SENTIMENT_GUIDELINE)
    words = sentiment_words()
    entries = [
        ImportEntry(
            name=f"{n:03d}-{row['token']}.txt",
            text=row["token"],
            metadata={"vader_mean": row["mean"], "vader_ratings": row["ratings"]},
        )
        for n, row in enumerate(words)
    ]
    report = items_import(project=project, entries=entries)
    log(f"  sentiment: {len(report.imported)} words imported")
    rng = np.random.default_rng(23)
    items = list(project.items.order_by("id")[:N_LABELED_WORDS])
    for item in items:
        ratings = item.metadata["vader_ratings"]
        for rater, labeler in enumerate(SENTIMENT_RATERS):
            rating = ratings[rater]
            annotation_save(
                item=item,
                labeler=users[labeler],
                value=sentiment_class(rating),
                borderline=abs(rating) == 1,
                borderline_with="neutral" if abs(rating) == 1 else "",
                seconds=float(rng.gamma(3.0, 1.5)),
            )
    log(f"  sentiment: {len(items) * len(SENTIMENT_RATERS)} answers (real ratings) by alice, bob and carol")
    return project
