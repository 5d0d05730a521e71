// The labeling page: ask the queue for an item, show it, take the answer from the keyboard (or the
// mouse), submit, and go on, without reloading the page. Blind: it only ever loads the labeler's own
// answers.
import { ApiError, forItem, getJSON, postJSON, setCsrfToken } from "./api.js";
import { DraftSlot, dropOthersDrafts } from "../drafts.js";
import { BoxEditor, SegmentEditor } from "./shapes.js";
import { AudioViewer, ImageViewer, TextViewer } from "./viewers.js";

const config = JSON.parse(document.getElementById("lab-config").textContent);
const $ = (id) => document.getElementById(id);
const project = config.project;
const isTranscription = project.taskType === "transcription";
const classByHotkey = new Map(config.classes.filter((c) => c.hotkey).map((c) => [c.hotkey, c]));
const classByKey = new Map(config.classes.map((c) => [c.key, c]));
// The answer's flags, each offered when the project's option of the same name is on, in the labeler's words.
const FLAGS = [["borderline", "borderline"], ["uncertain", "uncertain"], ["out_of_domain", "out of domain"]];
const PROGRESS_EVERY = 10; // refresh the project's figures every this many answers
const HEARTBEAT_MS = 60_000;

const viewer =
  project.modality === "image" ? new ImageViewer()
  : project.modality === "audio" ? new AudioViewer(config.vendor, { segments: project.taskType === "segments" })
  : new TextViewer();
// Detection and segments projects answer with shapes drawn on the item; the class keys and the
// borderline / uncertain keys then apply to the selected shape. Ctrl+Z / Ctrl+Shift+Z undo and redo the
// shown item's shape changes; the line beside the summary says what was undone. A detection project's
// draw key (x, or X when a class has x) draws a box from the keyboard: a crosshair, arrows, Enter twice;
// its corner key (h, or H) chooses the corner of the selected box Shift+arrows move.
const editorOptions = {
  classes: config.classes, classMap: config.classMap, options: project.options, onChange: () => renderAnswer(),
  drawKey: config.drawKey, cornerKey: config.cornerKey,
  onHistory: (text) => { const line = $("undo-status"); if (line) line.textContent = text; },
};
const shapes =
  project.taskType === "detection" ? new BoxEditor(viewer, editorOptions)
  : project.taskType === "segments" ? new SegmentEditor(viewer, editorOptions)
  : null;

const ui = {
  stage: $("stage"),
  message: $("stage-message"),
  form: $("answer-form"),
  itemLabel: $("item-label"),
  timer: $("timer"),
  error: $("answer-error"),
  summary: $("answer-summary"),
  comment: $("comment"),
  transcript: $("transcript"),
  editBanner: $("edit-banner"),
  editItem: $("edit-item"),
  recentList: $("recent-list"),
  skipDialog: $("skip-dialog"),
  skipOther: $("skip-other"),
  helpDialog: $("help-dialog"),
  oneKey: $("one-key"),
  borderlineHint: $("borderline-hint"),
  sendingNote: $("sending-note"),
  savedNote: $("saved-note"),
  draftNote: $("draft-note"),
};

const emptyAnswer = () => ({ value: "", borderline: false, borderline_with: "", uncertain: false, out_of_domain: false });

const state = {
  item: null, // the item shown: {id, text, file, duration, reserved_until?}
  queueItem: null, // while editing a recent answer: the queue's item, shown again afterwards
  editing: null, // the annotation being edited
  answer: emptyAnswer(),
  busy: false,
  done: false,
  recent: [],
  progress: null,
  sinceProgress: 0,
  saved: 0, // new answers saved on this page (the progress figures asked for before one may lack it)
  answering: null, // while a new answer is on its way: a promise settled when it is
  unsent: null, // {item, editing, body}: an answer whose reply never came (it may be stored), to send again
  elapsed: 0, // milliseconds on the item while the page was visible
  tickFrom: null,
  lastActivity: Date.now(),
  restoring: false, // true while showItem loads an item (its load is no change to keep as a draft)
};

// --- time on item -----------------------------------------------------------------------------------
function startClock() {
  state.elapsed = 0;
  state.tickFrom = document.hidden ? null : performance.now();
}
function seconds() {
  const running = state.tickFrom === null ? 0 : performance.now() - state.tickFrom;
  return Math.round((state.elapsed + running) / 100) / 10;
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) checkProject();
  if (!document.hidden && state.done) lookForItems();
  if (!document.hidden) comeBack();
  if (document.hidden && state.tickFrom !== null) {
    state.elapsed += performance.now() - state.tickFrom;
    state.tickFrom = null;
  } else if (!document.hidden && state.tickFrom === null) {
    state.tickFrom = performance.now();
  }
});
setInterval(() => {
  const s = Math.floor(seconds());
  ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}, 500);

// --- progress -----------------------------------------------------------------------------------------
function renderProgress() {
  const p = state.progress;
  if (!p) return;
  // 1,797 as the home page and the overview write it
  const count = (n) => Number(n).toLocaleString("en-US");
  $("mine-today").textContent = count(p.mine.today);
  $("mine-total").textContent = count(p.mine.total);
  $("project-progress").textContent = `${count(p.project.complete)} / ${count(p.project.items)}`;
  const meter = $("project-meter");
  meter.setAttribute("aria-valuemax", p.project.items);
  meter.setAttribute("aria-valuenow", p.project.complete);
  $("project-fill").style.width = `${p.project.items ? (100 * p.project.complete) / p.project.items : 0}%`;
}
// A guideline published while the page is open (an SME settles a question mid-day) is not on the page,
// nor are classes or options a manager changed meanwhile (a class added, retired or renamed, borderline
// turned off): every few answers, on coming back to the tab, and when an answer is refused, the page asks
// for the project as it is now and says what differs, with a Reload. The keys on the page still send the
// classes shown: the server stores a renamed or merged class as the class it became and refuses a retired one.
async function checkProject() {
  try {
    const now = (await getJSON(config.urls.project)).data;
    const active = now.active_guideline ?? null;
    const said = [];
    if (active && active !== config.guideline) {
      said.push(`The guideline was updated to v${active} while you were labeling (this page shows v${config.guideline ?? "–"}).`);
    }
    const changes = classChanges(now);
    if (changes.length) said.push(`The project's classes or options were changed while you were labeling (${changes.join("; ")}).`);
    if (!said.length) return;
    const notice = $("guideline-updated"); // an empty live region in the page from the start: its new text is said
    if (notice.dataset.said === said.join(" ")) return; // said once: a screen reader does not hear it again
    notice.dataset.said = said.join(" ");
    const reload = Object.assign(document.createElement("button"), { type: "button", className: "ghost", textContent: "Reload" });
    reload.addEventListener("click", () => location.reload());
    notice.replaceChildren(
      `${said.join(" ")} Reload the page to ${changes.length ? "use them" : "read it"}; the answer you have begun is kept. `,
      reload,
    );
  } catch (error) {
    console.warn("project:", error);
  }
}

/** How the project's classes and options (``now``, as the API reads the project) differ from the page's, in
 * the labeler's words; [] when they do not. A class is the same one under another key when it keeps its
 * keyboard key (a rename keeps it). */
function classChanges(now) {
  const shown = config.classes;
  const current = (now.classes ?? []).filter((c) => !c.retired);
  const said = [];
  const matched = new Set();
  const gone = [];
  for (const old of shown) {
    const c = current.find((c) => c.key === old.key) ?? current.find((c) => old.hotkey && c.hotkey === old.hotkey && !shown.some((s) => s.key === c.key));
    if (!c) { gone.push(old.name); continue; }
    matched.add(c);
    if (c.name !== old.name) said.push(`${old.name} is now ${c.name}`);
    if (c.hotkey !== old.hotkey) said.push(`${c.name} has the key ${c.hotkey || "none"}`);
  }
  const added = current.filter((c) => !matched.has(c)).map((c) => c.name);
  if (added.length) said.unshift(`new: ${added.join(", ")}`);
  if (gone.length) said.push(`no longer offered: ${gone.join(", ")}`);
  for (const [flag, name] of FLAGS) {
    const on = Boolean(now.options?.[flag]);
    if (on !== Boolean(project.options[flag])) said.push(`${name} turned ${on ? "on" : "off"}`);
  }
  return said;
}

async function refreshProgress() {
  // counted from the request, not its answer: answers sent while it is on its way count towards the next
  state.sinceProgress = 0;
  checkProject();
  await loadProgress();
}

// The figures are counted at some moment while their request is on its way: an answer sent or saved in
// the meantime may be in them or not. Shown as they are, they could take back the one that answer added
// on the page, count it twice, or (at the page's start) never count it; so the page then asks again, once
// that answer is settled. One look at a time: a refresh asked for while one is on its way is that one (it
// asks again anyway if an answer is saved meanwhile); a loop each would pile up while a labeler answers
// faster than the figures are counted, every one of them asking again after every answer.
let progressLoading = null;
function loadProgress() {
  progressLoading ??= lookAtProgress().finally(() => { progressLoading = null; });
  return progressLoading;
}

async function lookAtProgress() {
  for (;;) {
    const saved = state.saved;
    try {
      const progress = (await getJSON(config.urls.progress)).data;
      // an answer still on its way, or one saved meanwhile (whether it was on its way when asked or not)
      if (state.answering || state.saved !== saved) {
        await state.answering;
        continue;
      }
      state.progress = progress;
      renderProgress();
    } catch (error) {
      console.warn("progress:", error);
    }
    return;
  }
}

// --- the answer ---------------------------------------------------------------------------------------
function setPressed(element, pressed) {
  if (element) element.setAttribute("aria-pressed", pressed ? "true" : "false");
}

function describeAnswer() {
  const a = state.answer;
  const name = (key) => (classByKey.get(key)?.name ?? key);
  const parts = [];
  if (isTranscription) {
    if (a.uncertain) parts.push("uncertain");
  } else if (a.borderline && project.binary && !a.value) {
    parts.push("Borderline");
  } else if (a.borderline) {
    parts.push(a.borderline_with ? `Borderline between ${name(a.value) || "?"} and ${name(a.borderline_with)}`
      : a.value ? `Borderline: ${name(a.value)} and… press the second class` : "Borderline: press the two classes");
  } else if (a.value) {
    parts.push(name(a.value));
  }
  if (!isTranscription && a.uncertain) parts.push("uncertain");
  if (a.out_of_domain) parts.push("out of domain");
  return parts.join(" · ");
}

function renderShapes() {
  const current = shapes.currentClass;
  for (const button of document.querySelectorAll(".class-button[data-key]")) setPressed(button, button.dataset.key === current);
  const s = shapes.selected;
  for (const flag of ["borderline", "uncertain"]) {
    const toggle = $(`toggle-${flag}`);
    if (!toggle) continue;
    setPressed(toggle, Boolean(s?.[flag]));
    toggle.disabled = !s;
  }
  const remove = $("delete-shape");
  if (remove) remove.disabled = !s;
  setPressed($("toggle-ood"), state.answer.out_of_domain);
  ui.summary.textContent = [shapes.describe(), state.answer.out_of_domain && "out of domain"].filter(Boolean).join(" · ");
  if (!shapes.unfinished && ui.error.dataset.drawing) showError(""); // the shape is made or cancelled: submit away
}

function renderAnswer() {
  saveDraft();
  if (shapes) return renderShapes();
  const a = state.answer;
  for (const button of document.querySelectorAll(".class-button[data-key]")) {
    const key = button.dataset.key;
    setPressed(button, key === a.value || key === a.borderline_with);
    button.classList.toggle("second", key === a.borderline_with);
  }
  setPressed(document.querySelector("[data-borderline-middle]"), a.borderline && project.binary && !a.value);
  setPressed($("toggle-borderline"), a.borderline);
  setPressed($("toggle-uncertain"), a.uncertain);
  setPressed($("toggle-ood"), a.out_of_domain);
  if (ui.borderlineHint) {
    ui.borderlineHint.hidden = !a.borderline;
    ui.borderlineHint.textContent = a.borderline ? "between which two classes?" : "";
  }
  ui.summary.textContent = describeAnswer();
  missingGiven();
}

/** Once what an answer lacked is given (a class pressed, a word typed, a flag set), the message saying it
 * lacked it goes at once, as a shape's does once it is made. */
function missingGiven() {
  if (ui.error.dataset.missing && !missingAnswer()) showError("");
}

function chooseClass(key) {
  if (state.busy) return;
  if (shapes) return shapes.setClass(key);
  const a = state.answer;
  if (project.binary) {
    a.value = key;
    a.borderline = false;
  } else if (a.borderline && a.value && !a.borderline_with && key !== a.value) {
    a.borderline_with = key;
  } else if (a.borderline && a.borderline_with) {
    // A third key starts the pair again from this class.
    a.value = key;
    a.borderline_with = "";
  } else {
    a.value = key;
  }
  renderAnswer();
  const complete = !a.borderline || project.binary || a.borderline_with;
  if (ui.oneKey?.checked && complete) submit();
}

function toggleBorderline() {
  if (!project.options.borderline || state.busy) return;
  if (shapes) return shapes.toggleFlag("borderline");
  const a = state.answer;
  if (project.binary) {
    a.borderline = !(a.borderline && !a.value);
    a.value = "";
  } else {
    a.borderline = !a.borderline;
    if (!a.borderline) a.borderline_with = "";
  }
  renderAnswer();
}

function toggleFlag(name) {
  if (!project.options[name] || state.busy) return;
  if (shapes && name !== "out_of_domain") return shapes.toggleFlag(name);
  state.answer[name] = !state.answer[name];
  renderAnswer();
}

function showError(message, ...nodes) {
  delete ui.error.dataset.drawing;
  delete ui.error.dataset.missing;
  ui.error.replaceChildren(message || "", ...nodes);
}

// --- the session -------------------------------------------------------------------------------------------
// A labeler who signs out in another tab (or whose session ends) and signs in again there leaves this page
// with a CSRF token the server no longer takes, and possibly with someone else signed in. An answer is then
// kept on the page, never sent as another user, and sent again once the same labeler is signed in.

/** Who is signed in now and with which CSRF token, read from this page as the server renders it now; null
 * when no one is, or the one who is may not label here. */
async function sessionNow() {
  try {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return null;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const pageConfig = page.getElementById("lab-config");
    const csrf = page.querySelector('meta[name="csrf-token"]')?.content;
    if (!pageConfig || !csrf) return null;
    return { user: JSON.parse(pageConfig.textContent).user, token: csrf };
  } catch {
    return null;
  }
}

/** POST ``body``; after a sign-in in another tab, send it again with the new token if the same labeler is
 * signed in, else refuse with an ApiError that says who is. */
async function send(url, body) {
  try {
    return await postJSON(url, body);
  } catch (error) {
    if (!(error instanceof ApiError && error.staleToken)) throw error;
    const now = await sessionNow();
    if (now?.user !== config.user) {
      throw Object.assign(new ApiError(403, { detail: signedInAs(now?.user) }), { otherUser: true });
    }
    setCsrfToken(now.token);
    return await postJSON(url, body);
  }
}

function signedInAs(user) {
  return `This browser is now signed in ${user ? `as ${user}` : "as someone else"} (in another tab), not as ${config.user}, `
    + "who opened this page.";
}

const signInLink = () => Object.assign(document.createElement("a"), {
  href: config.urls.login, target: "_blank", rel: "noopener", textContent: "Sign in again (opens a tab)",
});

/** The error of a failed answer (or skip) in the labeler's words, with what became of their work. */
function showFailure(error, { what = "Your answer is", again = "press Enter to send it again" } = {}) {
  if (!(error instanceof ApiError)) return showError(String(error));
  if (error.signedOut) {
    showError(`You are signed out (your session ended, or you signed out in another tab). ${what} not saved and `
      + `stays here: sign in again in another tab, then come back and ${again}. `, signInLink());
  } else if (error.otherUser) {
    showError(`${error.message} ${what} not saved and stays here: sign in as ${config.user} again to send it, or `
      + "reload the page to label as the one signed in.");
  } else if (error.status === 0 || error.status >= 500 || error.status === 429) {
    showError(`${error.message} ${what} not saved and stays here: ${again}.`);
  } else {
    showError(error.message);
  }
}

// --- drafts -------------------------------------------------------------------------------------------
// The queue's item keeps its hold through a reload, a trip back in history or a second visit in the same
// tab, and so does the answer begun on it: every change is kept in this tab's sessionStorage (one draft per
// project and labeler, ../drafts.js) and put back when the queue gives the item again. Drafts are the
// labeler's own: another user signed in in this tab never sees them. The class that sticks for the next
// shape is kept beside it (it outlives an item, so it has a draft of its own).
const draft = new DraftSlot(`draft.${project.id}`, config.user);
const nextClass = new DraftSlot(`next.${project.id}`, config.user);

function saveDraft() {
  keepNextClass();
  if (!state.item || state.editing || state.restoring) return;
  const answer = payload();
  const drawn = shapes ? answer.value[shapes.kind].length > 0 : Boolean(answer.value.trim?.() ?? answer.value);
  // A box half drawn from the keyboard (its crosshair, its first corner, its class), or a segment's start
  // marked with [, is kept beside the answer: a reload puts it back, to be finished or dropped.
  const drawing = shapes?.pendingDraw ?? null;
  const begun = drawn || drawing || answer.borderline || answer.uncertain || answer.out_of_domain || answer.comment;
  if (begun) draft.save(state.item.id, { answer, ...(drawing && { drawing }) });
  else draft.drop();
}

function keepNextClass() {
  if (!shapes || state.restoring || nextClass.read()?.key === shapes.sticky) return;
  nextClass.save(null, { key: shapes.sticky });
}

/** The class a new shape takes, as it was before a reload. */
function restoreNextClass() {
  const key = nextClass.read()?.key;
  if (shapes && key) shapes.stickTo(key);
}

// --- items --------------------------------------------------------------------------------------------
function showItem(item, answer) {
  // An item from the queue (not an answer reopened from the list) takes back its unsent draft, if any.
  const found = answer === undefined && !state.editing ? draft.take(item.id) : null;
  const kept = found?.answer ? found : null;
  answer = answer ?? kept?.answer ?? undefined;
  state.restoring = true; // loading the item is no change to keep
  viewer.clear();
  state.item = item;
  state.answer = { ...emptyAnswer(), ...(answer ?? {}) };
  // An answer begun before a manager turned an option off (then the page reloaded) kept the flag, with no
  // toggle left on the page to clear it: every Enter was refused ("this project has no uncertain option").
  const dropped = FLAGS.filter(([flag]) => state.answer[flag] && !project.options[flag]).map(([, name]) => name);
  for (const [flag] of FLAGS) if (!project.options[flag]) state.answer[flag] = false;
  if (!state.answer.borderline) state.answer.borderline_with = "";
  ui.message.hidden = true;
  answerControls(true);
  ui.itemLabel.textContent = `item #${item.id}`;
  ui.timer.hidden = false;
  renewTypedBoxes();
  ui.comment.value = answer?.comment ?? "";
  if (ui.transcript) ui.transcript.value = answer?.value ?? "";
  showError("");
  viewer.show(item);
  shapes?.setDuration?.(item.duration); // segments: the clip's end as the server knows it
  shapes?.load(answer?.value);
  const resumed = Boolean(kept?.drawing) && shapes?.resumeDraw?.(kept.drawing);
  startClock();
  if (kept) state.elapsed = 1000 * (kept.answer.seconds || 0); // the time already spent on it counts
  state.restoring = false;
  renderAnswer();
  ui.draftNote.textContent = dropped.length
    ? `${kept ? "Your answer to this item, not sent yet, is back" : "Your answer is shown"} without ${dropped.join(" and ")}: `
      + "the project no longer offers it."
    : !kept ? ""
    : resumed ? `Your answer to this item, not sent yet, is back as you left it, with ${shapes.pendingNote}.`
    : "Your answer to this item, not sent yet, is back as you left it.";
  // The keyboard is on the item shown, ready for its keys: a screen reader says it, a ring shows it, and the
  // next Tab goes on into its controls (on the page's body it was lost, and Tab began at the top bar).
  if (ui.transcript) ui.transcript.focus();
  else ui.stage.focus({ preventScroll: true });
}

// Chromium keeps what is typed in a text box in the page's undo history (up to 1,000 steps) for as long as
// the box is on the page, each step with the text nodes it changed: emptied for the next item, the box
// kept them all, two more DOM nodes and their text each item answered (1,349 nodes after 300 transcripts,
// against 764 after 10). A box typed in is replaced by a fresh copy of itself for the next item, and its
// steps go with it; the page's listeners are on the document, so the copy works as the box did.
const typedIn = new WeakSet();
function renewTypedBoxes() {
  for (const name of ["transcript", "comment"]) {
    const box = ui[name];
    if (!box || !typedIn.has(box)) continue;
    const copy = box.cloneNode(false);
    box.replaceWith(copy);
    ui[name] = copy;
  }
}

// While nothing is left, the greyed-out answer controls are out of reach of Tab and of a screen reader too
// (inert); the notes beside them ("Saved your answer…") still speak.
function answerControls(usable) {
  ui.form.classList.toggle("disabled", !usable);
  const controls = ".classes, .transcript-row, .answer-row, .answer-actions > :is(button, label)";
  for (const element of ui.form.querySelectorAll(controls)) element.inert = !usable;
}

function showDone() {
  viewer.clear();
  shapes?.clear();
  state.item = null;
  state.done = true;
  for (const el of document.querySelectorAll("#image-viewer, #image-tools, #audio-viewer, #text-viewer")) el.hidden = true;
  ui.message.hidden = false;
  const check = Object.assign(document.createElement("button"), { type: "button", className: "small", textContent: "Look now" });
  check.addEventListener("click", () => lookForItems());
  const home = Object.assign(document.createElement("a"), { href: config.urls.home, textContent: "Back to your projects" });
  ui.message.replaceChildren(
    "Nothing is left for you in this project right now. Thank you! While you are on this page it looks for new "
      + "items every minute, and shows the next one as soon as there is one. ",
    check, " ", home,
  );
  ui.itemLabel.textContent = "";
  // The last item's transcript, comment, class and flags are about no item now either: the greyed-out
  // form showed them under "Nothing is left" as if still to be sent.
  state.answer = emptyAnswer();
  if (ui.transcript) ui.transcript.value = "";
  ui.comment.value = "";
  if (!shapes) renderAnswer();
  ui.summary.textContent = "";  // the last item's "no segments · next: speech" is about no item now
  ui.timer.hidden = true;
  answerControls(false);
  refreshProgress();
}

// Items imported (or handed back by a lapsed hold or a relabel) after the queue ran dry: the page shows the
// next one by itself, asking every minute while the labeler is at it (the queue holds the item it gives, so
// an idle page asks nothing, as with the heartbeat below), on coming back to the tab, and on "Look now".
// The page said "Nothing is left" until it was reloaded, however many items had arrived since.
async function lookForItems() {
  if (!state.done || state.busy || state.editing) return;
  state.busy = true;
  try {
    const { status, data } = await getJSON(config.urls.next);
    if (status === 204 || !state.done || state.editing) return;
    state.done = false;
    showItem(data);
    ui.savedNote.textContent = `New items arrived: item #${data.id} is shown.`;
    refreshProgress();
  } catch (error) {
    console.warn("queue:", error);
  } finally {
    state.busy = false;
  }
}

async function loadNext() {
  state.busy = true;
  try {
    const { status, data } = await getJSON(config.urls.next);
    if (status === 204) showDone();
    else showItem(data);
  } catch (error) {
    ui.message.hidden = false;
    ui.message.textContent = error instanceof ApiError && error.signedOut
      ? "You are signed out (your session ended, or you signed out in another tab). Sign in again, then reload this page. "
      : `${error.message} Reload the page to try again.`;
    if (error instanceof ApiError && error.signedOut) ui.message.append(signInLink());
  } finally {
    state.busy = false;
  }
}

function payload() {
  const a = state.answer;
  return {
    value: shapes ? shapes.value() : isTranscription ? ui.transcript.value : a.value,
    borderline: a.borderline,
    borderline_with: a.borderline ? a.borderline_with : "",
    uncertain: a.uncertain,
    out_of_domain: a.out_of_domain,
    comment: ui.comment.value.trim(),
    seconds: seconds(),
    guideline: config.guideline,
  };
}

/** What the answer shown lacks before it can be sent (as the server would refuse it), in the labeler's
 * words; "" when nothing does. A classification answer needs a class (or a binary project's borderline
 * middle), a transcript some text; either may instead be marked uncertain or out of domain. */
function missingAnswer() {
  const a = state.answer;
  if (a.uncertain || a.out_of_domain) return "";
  const flags = [project.options.uncertain && "Uncertain (u)", project.options.out_of_domain && "Out of domain (o)"]
    .filter(Boolean).join(" or ");
  if (isTranscription) {
    if (ui.transcript.value.trim()) return "";
    return `The transcript is empty: type what you hear${flags ? `, or mark the clip ${flags} (Esc leaves the box first)` : ""}; then submit.`;
  }
  if (a.value || (a.borderline && project.binary)) return "";
  return `Nothing is chosen: press a class key${flags ? `, or mark the item ${flags}` : ""}; then submit.`;
}

/** Whether two answers sent are the same answer, whatever their time on the item. */
function sameAnswer(a, b) {
  const { seconds: _a, ...one } = a;
  const { seconds: _b, ...other } = b;
  return JSON.stringify(one) === JSON.stringify(other);
}

// ``nothing``: the explicit "nothing here" answer of a localized project (an empty list of shapes).
// While an answer (or a skip) is on its way, the shown item's answer cannot change: a key or a click would
// change the screen and not what is being saved (on a slow network, "two" was saved while "five" showed).
function sending(on, text = "Sending…") {
  state.busy = on;
  ui.form.classList.toggle("sending", on);
  ui.form.setAttribute("aria-busy", String(on));
  ui.sendingNote.textContent = on ? text : "";
  if (on) ui.savedNote.textContent = "";
  for (const box of [ui.transcript, ui.comment]) if (box) box.readOnly = on;
}

async function submit({ nothing = false } = {}) {
  if (state.busy || !state.item) return;
  if (shapes?.unfinished) {
    // The box (or segment) begun from the keyboard is not in the answer yet: sending now would drop it unseen.
    showError(`${shapes.unfinished}; then submit.`);
    ui.error.dataset.drawing = "1";
    return;
  }
  if (shapes && nothing) shapes.replace(null, "nothing here"); // undoable if the answer is refused
  else if (shapes && !shapes.count) {
    showError(`Nothing is drawn: draw a ${shapes.noun[0]}, or answer "Nothing here" (Shift+N).`);
    return;
  }
  const a = state.answer;
  if (!shapes && !isTranscription && a.borderline && !project.binary && !a.borderline_with) {
    // A borderline answer lies between two classes; with one, the server refuses it anyway.
    showError(a.value ? "Borderline: press the second class, or b again to drop borderline."
      : "Borderline: press the two classes it lies between, or b again to drop borderline.");
    return;
  }
  const missing = !shapes && missingAnswer();
  if (missing) {
    // Nothing is sent, and the note that the last answer was saved stays: a second Enter, pressed as the
    // next item came, sent that item an empty answer, and the server's "Invalid input: value: …" replaced it.
    showError(missing);
    ui.error.dataset.missing = "1";
    return;
  }
  const what = ui.summary.textContent;
  sending(true);
  showError("");
  const item = state.item;
  const editing = Boolean(state.editing);
  const body = payload();
  // An answer whose reply never came may have been stored all the same. Sent again as it was, it goes with
  // the time on the item it was first sent with: the server then takes it for the answer it has, not for a
  // revision of it that changed only that time.
  const retry = state.unsent?.item === item.id && state.unsent.editing === editing ? state.unsent : null;
  if (retry && sameAnswer(retry.body, body)) body.seconds = retry.body.seconds;
  try {
    // In the queue, the answer and the next item come back in one round trip (?next=1).
    const url = forItem(config.urls.submit, item.id) + (editing ? "" : "?next=1");
    const sent = send(url, body);
    if (!editing) {
      // Settled before this function goes on, so the figures it may ask for below are asked cleanly.
      const settle = () => { if (state.answering === answering) state.answering = null; };
      const answering = sent.then(settle, settle);
      state.answering = answering;
    }
    const { data } = await sent;
    state.unsent = null;
    const annotation = editing ? data : data.annotation;
    if (!editing) draft.drop(item.id);
    tellOtherTabs(item.id, "answered");
    rememberRecent(annotation, item);
    // Every stored answer is a 201; a first answer (not a revision, not a retry) counts once.
    const first = annotation.first_answer === true;
    if (first) state.saved += 1;
    if (first && state.progress) {
      state.progress.mine.today += 1;
      state.progress.mine.total += 1;
      renderProgress();
    }
    sending(false);
    // Said, not only seen: the next item replaces this one silently, and a screen reader would tell nothing.
    ui.savedNote.textContent = `Saved your answer to item #${item.id}${what ? `: ${what}` : ""}.`;
    // Sent again, a first answer the server had stored the first time comes back as not the first one: the
    // figures, which never counted it, are asked for.
    if (++state.sinceProgress >= PROGRESS_EVERY || (retry && !first && !editing)) refreshProgress();
    if (editing) finishEditing();
    else if (data.next) showItem(data.next);
    else showDone();
  } catch (error) {
    sending(false);
    // no reply, or a failure on the way back: the answer may be stored (see retry above)
    if (error instanceof ApiError && (error.status === 0 || error.status >= 500)) state.unsent = { item: item.id, editing, body };
    if (error instanceof ApiError && error.status === 409) {
      if (!editing) draft.drop(item.id);
      showError(`${error.message} Loading the next item…`);
      setTimeout(loadNext, 1200);
    } else if (error instanceof ApiError && error.status === 404 && !editing) {
      await itemGone(item, error, "your answer to it was not saved");
    } else {
      showFailure(error);
      if (error instanceof ApiError && error.status === 400) checkProject(); // a class retired, an option off?
    }
  }
}

// The item shown answered 404: a manager deleted it (the queue still answers, with another item or none),
// or the labeler is no longer a member (it does not). The page stayed on the deleted item, saying "No item
// with that id in your projects." to every key, until it was reloaded.
async function itemGone(item, error, lost) {
  let answer;
  state.busy = true; // no second answer to the deleted item while the queue is asked
  try {
    answer = await getJSON(config.urls.next);
  } catch {
    return showFailure(error); // not the item alone: the project is gone for this labeler; the answer stays
  } finally {
    state.busy = false;
  }
  draft.drop(item.id);
  const { status, data } = answer;
  const gone = `Item #${item.id} was deleted from the project meanwhile: ${lost}.`;
  if (status === 204) {
    showDone();
    showError(`${gone} Nothing else is left for you right now.`);
  } else {
    showItem(data);
    showError(`${gone} Item #${data.id} is shown instead.`);
  }
}

async function skip(reason) {
  ui.skipDialog.close();
  if (state.busy || !state.item || state.editing) return;
  sending(true, "Skipping…");
  const item = state.item;
  try {
    await send(forItem(config.urls.skip, item.id), { reason });
    draft.drop(item.id);
    tellOtherTabs(item.id, "skipped");
    sending(false);
    ui.savedNote.textContent = `Skipped item #${item.id}.`;
    await loadNext();
  } catch (error) {
    sending(false);
    if (error instanceof ApiError && error.status === 404) await itemGone(item, error, "nothing was skipped");
    else showFailure(error, { what: "The skip is", again: "press s to skip again" });
  }
}

// Keep the hold on the item while the labeler is active on it (the queue gives the same item back and
// extends the hold); an idle page lets the hold lapse so the slot goes to someone else.
setInterval(() => {
  if (state.done && !document.hidden && Date.now() - state.lastActivity <= 3 * HEARTBEAT_MS) return lookForItems();
  const item = state.editing ? state.queueItem : state.item;
  if (!item?.reserved_until || state.busy || Date.now() - state.lastActivity > 3 * HEARTBEAT_MS) return;
  if (new Date(item.reserved_until) - Date.now() > 2.5 * HEARTBEAT_MS) return;
  keepHold();
}, HEARTBEAT_MS);

// Coming back to the tab (or to the window, from another program) is being at it again: the hold on the
// item shown is renewed at once, however long the labeler was away. Once it has lapsed, the page asks for
// the item by its id (?item=), and the queue holds it again if it is still free for the labeler; the
// queue alone handed out its next item, which the page did not show (the labeler then answered the item
// shown, no longer theirs, and was refused if someone had taken it meanwhile).
function comeBack() {
  state.lastActivity = Date.now();
  keepHold();
}
window.addEventListener("focus", () => { if (!document.hidden) comeBack(); });

let holdAsked = null; // one request at a time: a tab's return fires both visibilitychange and focus
function keepHold() {
  holdAsked ??= askToKeepHold().finally(() => { holdAsked = null; });
  return holdAsked;
}

async function askToKeepHold() {
  const item = state.editing ? state.queueItem : state.item;
  if (!item?.reserved_until || state.done || state.busy) return;
  let answer;
  try {
    answer = await getJSON(`${config.urls.next}?item=${item.id}`);
  } catch (error) {
    console.warn("hold:", error);
    return;
  }
  // An answer or a skip sent meanwhile moves the page on by itself (its answer brings the next item).
  if (item !== (state.editing ? state.queueItem : state.item) || state.busy) return;
  const { status, data } = answer;
  if (status !== 204 && data.id === item.id) {
    item.reserved_until = data.reserved_until;
    return;
  }
  // Someone else took the item while the hold was lapsed: the page moves on and says so, rather than let
  // the labeler answer it and be refused.
  const begun = Boolean(draft.take(item.id));
  draft.drop(item.id);
  const lost = `While you were away, your hold on item #${item.id} lapsed and another labeler took it`
    + `${begun ? "; the answer you had begun on it was not sent" : ""}.`;
  if (state.editing) {
    state.queueItem = status === 204 ? null : data; // shown once the answer being changed is done
    showError(`${lost} ${status === 204 ? "Nothing else is left for you right now." : `Item #${data.id} comes next.`}`);
  } else if (status === 204) {
    showDone();
    showError(`${lost} Nothing else is left for you right now.`);
  } else {
    showItem(data);
    showError(`${lost} Item #${data.id} is shown instead.`);
  }
}

// --- other tabs ------------------------------------------------------------------------------------------
// Two tabs of the same labeler on a project show the one item the queue holds for them. Answered (or
// skipped) in one, it stayed in the other, where answering it again silently replaced the first answer (a
// revision, "Saved" in both tabs). Each tab tells the others of its labeler's answers and skips; a tab
// showing that item moves on to the queue's next one and says why.
const otherTabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("labelhub.labeling") : null;

function tellOtherTabs(itemId, done) {
  try {
    otherTabs?.postMessage({ user: config.user, project: project.id, item: itemId, done });
  } catch (error) {
    console.warn("other tabs:", error);
  }
}

otherTabs?.addEventListener("message", async ({ data }) => {
  if (data?.user !== config.user || data.project !== project.id) return;
  if (state.editing) {
    // the queue's item, shown again once the answer being changed is saved, is done: the next one comes instead
    if (state.queueItem?.id === data.item) state.queueItem = null;
    return;
  }
  // (while this tab's own answer to the item is on its way, that answer moves the page on)
  if (state.item?.id !== data.item || state.busy) return;
  const begun = Boolean(draft.take(data.item));
  draft.drop(data.item);
  await loadNext();
  const note = `You ${data.done} item #${data.item} in another tab`
    + `${begun ? "; the answer you had begun on it here was not sent" : ""}.`
    + `${state.item ? ` Item #${state.item.id} is shown here.` : ""}`;
  if (begun) showError(note);
  else ui.savedNote.textContent = note;
});

// --- recent answers and editing -------------------------------------------------------------------------
// a class as the buttons and the saved note name it (its key only when the class is gone)
const className = (key) => (key ? (classByKey.get(key)?.name ?? key) : key);

function recentEntry(annotation) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.item = annotation.item;
  const drawn = shapes && annotation.value && typeof annotation.value === "object" ? annotation.value[shapes.kind] : null;
  const what = drawn ? (drawn.length ? `${drawn.length} ${shapes.noun[drawn.length === 1 ? 0 : 1]}` : "nothing here")
    : isTranscription ? (annotation.value || "").slice(0, 60) || "(empty)"
    : annotation.borderline ? `${annotation.value ? className(annotation.value) : "borderline"}${annotation.borderline_with ? ` / ${className(annotation.borderline_with)}` : ""} (borderline)`
    : className(annotation.value);
  const flags = [annotation.uncertain && "uncertain", annotation.out_of_domain && "out of domain"].filter(Boolean);
  if (annotation.item_file && project.modality === "image") {
    button.append(Object.assign(document.createElement("img"), { src: annotation.item_file, alt: "" }));
  }
  const text = document.createElement("span");
  text.className = "recent-text";
  text.textContent = `#${annotation.item} · ${[what, ...flags].filter(Boolean).join(", ")}`;
  button.append(text);
  button.addEventListener("click", () => startEditing(annotation));
  li.append(button);
  return li;
}

function renderRecent() {
  const focused = [...ui.recentList.querySelectorAll("button")].indexOf(document.activeElement);
  ui.recentList.replaceChildren(...state.recent.map(recentEntry));
  if (!state.recent.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "Your answers will appear here.";
    ui.recentList.append(li);
  }
  // The list opened with `r` before the answers arrived (or while it was redrawn) takes the keyboard
  // once they are here, as it would have had they been here already.
  const buttons = ui.recentList.querySelectorAll("button");
  const idle = [document.body, ui.stage, null].includes(document.activeElement); // on no control, or on the item
  if (buttons.length && !$("panel-recent").hidden && (focused >= 0 || idle)) buttons[Math.max(0, Math.min(focused, buttons.length - 1))].focus();
}

function rememberRecent(annotation, item) {
  const entry = { ...annotation, item_file: item.file ?? null, item_text: item.text ?? "", item_duration: item.duration ?? null };
  state.recent = [entry, ...state.recent.filter((a) => a.item !== annotation.item)].slice(0, 10);
  renderRecent();
}

async function loadRecent() {
  try {
    const results = (await getJSON(config.urls.recent)).data.results;
    // Answers given on this page while the list was on its way are newer than it, and may be missing
    // from it: they stay on top.
    const given = state.recent;
    state.recent = [...given, ...results.filter((a) => !given.some((g) => g.item === a.item))].slice(0, 10);
    renderRecent();
  } catch (error) {
    console.warn("recent answers:", error);
  }
}

function startEditing(annotation) {
  if (state.busy) return;
  if (!state.editing) state.queueItem = state.item;
  state.editing = annotation;
  ui.editBanner.hidden = false;
  ui.editItem.textContent = `item #${annotation.item}`;
  showTab("guideline");
  const item = { id: annotation.item, file: annotation.item_file, text: annotation.item_text, duration: annotation.item_duration };
  showItem(item, annotation);
}

function finishEditing() {
  state.editing = null;
  ui.editBanner.hidden = true;
  const back = state.queueItem;
  state.queueItem = null;
  if (back) showItem(back);
  else if (state.done) showDone();
  else loadNext();
}

function showTab(name) {
  const recent = name === "recent";
  $("panel-recent").hidden = !recent;
  $("panel-guideline").hidden = recent;
  $("tab-recent").setAttribute("aria-selected", String(recent));
  $("tab-guideline").setAttribute("aria-selected", String(!recent));
  if (recent) ui.recentList.querySelector("button")?.focus();
  else if (ui.recentList.contains(document.activeElement)) ui.stage.focus({ preventScroll: true }); // back on the item
}

// --- keyboard ---------------------------------------------------------------------------------------------
function inTextField(target) {
  return target instanceof HTMLTextAreaElement
    || (target instanceof HTMLInputElement && ["text", "search", ""].includes(target.type))
    || target?.isContentEditable;
}

function insertUnintelligible() {
  const box = ui.transcript;
  if (!box || box.readOnly) return;
  const tag = "[unintelligible]";
  const { selectionStart: start, selectionEnd: end, value } = box;
  const before = value.slice(0, start);
  const pad = before && !before.endsWith(" ") ? " " : "";
  box.value = `${before}${pad}${tag}${value.slice(end)}`;
  box.focus();
  box.selectionStart = box.selectionEnd = start + pad.length + tag.length;
}

function onRecentKey(event) {
  const buttons = [...ui.recentList.querySelectorAll("button")];
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return false;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    buttons[Math.max(0, Math.min(buttons.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)))].focus();
    return true;
  }
  if (event.key === "Enter") {
    startEditing(state.recent[index]);
    return true;
  }
  if (event.key === "Escape" || event.key === "r") {
    showTab("guideline");
    return true;
  }
  return false;
}

// A focused checkbox or slider keeps its own keys, as anywhere on the web: Space ticks the box, the arrows
// move the slider (brightness, contrast), Esc gives the keys back to the page. Space played the clip and the
// arrows panned the image instead, and "Answer with the class key alone" could not be ticked from the keyboard.
const CONTROL_KEYS = {
  checkbox: [" ", "Escape"],
  range: ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown", "Escape"],
};

function keepsKey(target, key) {
  return target instanceof HTMLInputElement && Boolean(CONTROL_KEYS[target.type]?.includes(key));
}

const ONCE_KEYS = new Set(["Enter", "n", "N", "?", "Escape", "b", "u", "o", "c", "s", "r", "t", "i"]);

function onKey(event) {
  state.lastActivity = Date.now();
  if (ui.helpDialog.open || ui.skipDialog.open) return; // the dialogs handle their own keys
  const target = event.target;
  // Undo / redo of the shapes; in a text box (the comment) the browser's own undo of the text.
  const history = shapes && !inTextField(target) ? shapes.historyKey(event) : null;
  if (history) {
    event.preventDefault();
    if (!state.busy && state.item) shapes[history](); // never while an answer is being sent
    return;
  }
  if (event.metaKey || (event.altKey && event.key !== "Alt")) return;
  if (event.ctrlKey) {
    if (event.repeat && (event.key === " " || event.key === "i" || event.key === "I")) event.preventDefault();
    else if (event.key === " " && viewer instanceof AudioViewer) viewer.toggle();
    else if ((event.key === "i" || event.key === "I") && ui.transcript) insertUnintelligible();
    else return;
    event.preventDefault();
    return;
  }
  if (inTextField(target)) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!event.repeat) submit();
    } else if (event.key === "Escape") {
      target.blur();
    }
    return;
  }
  if (keepsKey(target, event.key)) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (ui.recentList.contains(target) && onRecentKey(event)) {
    event.preventDefault();
    return;
  }
  const key = event.key;
  // A held key repeats. The page's own shortcuts act once per press: a held Enter, class key (with
  // "answer with the class key alone") or Shift+N would otherwise answer the items after this one before
  // they are even drawn, and a held b, u or o would flip its flag back and forth. The viewer's and the
  // shapes' keys (pan, seek, zoom, nudge, undo) still repeat.
  if (event.repeat && (ONCE_KEYS.has(key) || classByHotkey.has(key))) {
    event.preventDefault();
    return;
  }
  if (state.busy) {
    // An answer is on its way (or the next item is loading): only the viewer's keys (play, seek, zoom) act.
    if (viewer.key(event)) event.preventDefault();
    else if (ONCE_KEYS.has(key) || classByHotkey.has(key)) event.preventDefault();
    return;
  }
  if (shapes && !classByHotkey.has(key)) {
    if (shapes.key(event)) {
      event.preventDefault();
      return;
    }
    // Shift+N only: with Caps Lock on, n (submit) arrives as "N" without Shift, and sent "nothing here"
    // over the shapes drawn (it submits them, below); Shift+N then arrives as "n" with Shift.
    if ((key === "N" || key === "n") && event.shiftKey) {
      event.preventDefault();
      submit({ nothing: true });
      return;
    }
    if (key === "Escape" && !state.editing) return; // never wipe the drawn shapes by a stray Esc
  }
  let handled = true;
  if (!isTranscription && classByHotkey.has(key)) chooseClass(classByHotkey.get(key).key);
  else if (key === "?") ui.helpDialog.showModal();
  else if (key === "Enter" || key === "n" || (key === "N" && !event.shiftKey)) {
    // A focused button (not a class) or link reached with Tab keeps its Enter: the link is followed.
    // A button of a dialog already closed is not one: it may hold the focus until the close event's blur runs.
    const control = target instanceof HTMLButtonElement
      ? !target.closest(".classes") && !target.closest("dialog:not([open])")
      : Boolean(target.closest?.("a[href]"));
    if (control && key === "Enter") handled = false;
    else submit();
  } else if (key === "Escape") {
    if (state.editing) finishEditing();
    else { state.answer = emptyAnswer(); renderAnswer(); }
  } else if (key === "b") toggleBorderline();
  else if (key === "u") toggleFlag("uncertain");
  else if (key === "o") toggleFlag("out_of_domain");
  else if (key === "c") ui.comment.focus();
  else if (key === "s") openSkip();
  else if (key === "r") showTab($("panel-recent").hidden ? "recent" : "guideline");
  else if (isTranscription && key === "t") ui.transcript.focus();
  else if (isTranscription && key === "i") insertUnintelligible();
  else handled = viewer.key(event);
  if (handled) event.preventDefault();
}
document.addEventListener("keydown", onKey);
document.addEventListener("pointerdown", () => { state.lastActivity = Date.now(); });
// Listening is work too: a long recording played for minutes without a key pressed is the labeler at it,
// and its hold is kept (it lapsed some eight minutes in, and the item could go to someone else).
if (viewer instanceof AudioViewer) {
  viewer.audio.addEventListener("timeupdate", () => { if (!viewer.audio.paused) state.lastActivity = Date.now(); });
}
// A button clicked with the mouse gives the focus back, so the next Space or Enter goes to the page's
// shortcuts instead of pressing that button again.
document.addEventListener("click", (event) => {
  const control = event.target.closest("button, input[type=range], input[type=checkbox]");
  if (control && event.detail > 0 && !control.closest("dialog")) control.blur();
});

// --- dialogs ------------------------------------------------------------------------------------------------
function openSkip() {
  if (!state.item || state.editing) return;
  ui.skipOther.value = "";
  ui.skipDialog.showModal();
  ui.skipDialog.querySelector("[data-reason]")?.focus();
}
// Closed, the dialog may keep the keyboard until the browser's next focus fix-up: a class key pressed at
// once after Esc (under load) reached the reason buttons and skipped the item as "offensive" (the third
// reason) instead of choosing class 3. Keys count only while the dialog is open, and closing it lets go.
// The close event comes as a task of its own, and the browser may run keys typed meanwhile first (input goes
// ahead under load): Esc's cancel, at once, lets go too; and a reason button of a closed dialog skips nothing
// (an Enter it kept was "clicked" and skipped the item for the first reason, 1 run in 48 under load).
for (const dialog of [ui.skipDialog, ui.helpDialog]) {
  for (const type of ["cancel", "close"]) {
    dialog.addEventListener(type, () => {
      if (dialog.contains(document.activeElement)) document.activeElement.blur();
    });
  }
}
ui.skipDialog.addEventListener("keydown", (event) => {
  if (!ui.skipDialog.open) return;
  if (event.target === ui.skipOther) {
    if (event.key === "Enter") {
      event.preventDefault();
      if (ui.skipOther.value.trim()) skip(ui.skipOther.value.trim());
    }
    return;
  }
  const reasons = [...ui.skipDialog.querySelectorAll("[data-reason]")];
  const index = Number(event.key) - 1;
  if (Number.isInteger(index) && index >= 0 && index < reasons.length) {
    event.preventDefault();
    skip(reasons[index].dataset.reason);
  } else if (index === reasons.length) {
    event.preventDefault();
    ui.skipOther.focus();
  }
});
ui.skipDialog.addEventListener("click", (event) => {
  if (!ui.skipDialog.open) return;
  const reason = event.target.closest("[data-reason]")?.dataset.reason;
  if (reason) skip(reason);
});
ui.helpDialog.addEventListener("keydown", (event) => {
  if (event.key !== "?") return;
  event.stopPropagation(); // the page's own ? (which opens the help) would open it again at once
  ui.helpDialog.close();
});
ui.helpDialog.addEventListener("click", (event) => { if (event.target === ui.helpDialog) ui.helpDialog.close(); });
// A dialog gives the keyboard back, once closed, to what had it when it opened: a button clicked with the
// mouse had it, and the next Enter opened the dialog again instead of submitting. Clicked, the button lets
// go of it first (as every button clicked does, above); reached with Tab, it keeps it.
const opensDialog = (open) => (event) => {
  if (event.detail > 0) event.currentTarget.blur();
  open();
};
$("help-button").addEventListener("click", opensDialog(() => ui.helpDialog.showModal()));

// --- mouse --------------------------------------------------------------------------------------------------
// The second click of a double click does nothing: the first one may already have sent the answer and
// shown the next item, which the second would answer unseen (Submit, "Nothing here", a class with "answer
// with the class key alone") or whose flag it would flip back.
ui.form.addEventListener("click", (event) => {
  if (event.detail > 1 && event.target.closest("button")) {
    event.preventDefault();
    event.stopPropagation();
  }
}, { capture: true });
ui.form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
$("classes")?.addEventListener("click", (event) => {
  const button = event.target.closest(".class-button");
  if (!button) return;
  if (button.hasAttribute("data-borderline-middle")) toggleBorderline();
  else chooseClass(button.dataset.key);
});
$("toggle-borderline")?.addEventListener("click", toggleBorderline);
$("toggle-uncertain")?.addEventListener("click", () => toggleFlag("uncertain"));
$("toggle-ood")?.addEventListener("click", () => toggleFlag("out_of_domain"));
$("insert-unintelligible")?.addEventListener("click", insertUnintelligible);
$("nothing-button")?.addEventListener("click", () => submit({ nothing: true }));
$("delete-shape")?.addEventListener("click", () => {
  if (!state.busy && shapes.selected) shapes.remove(shapes.selectedIndex);
});
$("undo-shape")?.addEventListener("click", () => { if (!state.busy && state.item) shapes.undo(); }); // never while sending
$("edit-back").addEventListener("click", () => { if (state.editing && !state.busy) finishEditing(); });
$("skip-button").addEventListener("click", opensDialog(openSkip));
$("guideline-notice-close")?.addEventListener("click", () => $("guideline-notice").remove());
$("tab-recent").addEventListener("click", () => showTab("recent"));
$("tab-guideline").addEventListener("click", () => showTab("guideline"));
// The browser's preference store; a browser that keeps no site data refuses it (and its setItem throws when
// full): the preference is then not kept, and the page works on (it stopped here, at "Loading the next
// item…").
const preferences = (() => { try { return window.localStorage; } catch { return null; } })();
if (ui.oneKey) {
  try { ui.oneKey.checked = preferences?.getItem("labelhub.oneKey") === "1"; } catch { /* not kept */ }
  ui.oneKey.addEventListener("change", () => {
    try { preferences?.setItem("labelhub.oneKey", ui.oneKey.checked ? "1" : "0"); } catch { /* not kept */ }
  });
}

// (on the document: the boxes are renewed for each item, see renewTypedBoxes)
document.addEventListener("input", (event) => {
  if (!event.target || ![ui.transcript, ui.comment].includes(event.target)) return;
  typedIn.add(event.target);
  saveDraft();
  missingGiven();
});
window.addEventListener("pagehide", saveDraft); // with the time spent on the item up to the reload

// --- start ----------------------------------------------------------------------------------------------------
dropOthersDrafts(config.user);
restoreNextClass();
refreshProgress();
loadRecent();
loadNext();
