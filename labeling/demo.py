"""The demo: real data made by others (scikit-learn's handwritten digits, synthesized spoken queries),
labeled by a few simulated labelers whose disagreements look like real ones."""

import io
import json
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from PIL import Image

from labeling.choices import Role
from labeling.models import Project
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add, project_create
from labeling.services.sources import source_create

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
N_LABELED_DIGITS = 360

DIGITS_GUIDELINE = """# Handwritten digits — labeling guideline v1

Label each scan with the digit the writer meant.

* Press the digit's key (**1**–**9**, and **a** for zero).
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
        classes=[
            {"key": str(d), "name": DIGIT_NAMES[d], "hotkey": "a" if d == 0 else str(d)}
            for d in [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
        ],
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
        seed_digits(users, log=log)
    if not Project.objects.filter(name=SPEECH_PROJECT).exists():
        seed_speech(users, log=log)
    return users
