// The review page of a detection / segments item (the iguana item): every labeler's shapes as a layer
// of their own colour over the image (or as a lane under the waveform), toggled one by one; their
// consensus; and the labeling page's shape editor (labeling/shapes.js) holding the final shapes, which
// the SME accepts, edits or draws. Keyboard-first:
//   1-9 toggle a labeler's layer, 0 the consensus; Shift+1-9 copy that labeler's shapes into the editor;
//   c accepts the consensus; e edits from the consensus; Shift+N nothing here; k + class key sets the
//   selected shape's class; b / u flag it; g gold; r rationale; a / i / s actions; Enter records; n skips;
//   Ctrl+Z (Cmd+Z) undoes the last change to the final shapes (a copy, a clear and e included), Ctrl+Shift+Z
//   or Ctrl+Y redoes it; in the rationale box they stay the browser's undo of the text.
// Boxes are drawn from the keyboard as on the labeling page, with its keys (x, or Shift+X when a class has x;
// h chooses the corner Shift+arrows move). While a box is being drawn its keys come first: Enter makes the
// box and never records, and recording (Enter, c, the buttons), a copy, e and Shift+N wait until the box is
// made or cancelled (Esc), saying so; so does n (skip), which would leave the box behind.
// What the SME has begun on the item (the final shapes, a box being drawn or a segment's start marked, the
// class the next shape takes, gold, the rationale, the action) is the tab's draft until it is recorded: a
// reload or a trip back in history puts it back (../drafts.js).
import { announceDraft, dropOthersDrafts, fillForm, ItemDraft, pruneReviewDrafts, readForm, reviewDraftNote } from "../drafts.js";
import { BoxEditor, SegmentEditor } from "../labeling/shapes.js";
import { AudioViewer, ImageViewer } from "../labeling/viewers.js";
import { sendJSON } from "../session.js";
import { keepsEnter, mouseClicksGiveFocusBack } from "./controls.js";
import { decidedMeanwhile, draftWithdrawalGone, withdrawnSaid } from "./meanwhile.js";
import { sayOnNextPage, sayWhatWasKept } from "./said.js";

const config = JSON.parse(document.getElementById("review-config").textContent);
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const form = $("decision-form");
const status = $("decision-status");
sayWhatWasKept($("said-status")); // its own line, as on the review page: the draft put back has the status line
const summary = $("editor-summary");
const boxes = config.kind === "boxes";
const noun = boxes ? ["box", "boxes"] : ["segment", "segments"];

const viewer = boxes ? new ImageViewer() : new AudioViewer(config.vendor, { segments: true });
const editorOptions = {
  classes: config.classes, options: config.options, onChange: () => render(),
  drawKey: config.drawKey, cornerKey: config.cornerKey,
  onHistory: (text) => { $("undo-status").textContent = text; },
  tabLeaves: true, // Tab goes through the final shapes once, then on through the page: no keyboard trap
};
const editor = boxes ? new BoxEditor(viewer, editorOptions) : new SegmentEditor(viewer, { ...editorOptions, duration: config.duration });
const strip = (value) => ({ [config.kind]: (value?.[config.kind] ?? []).map(({ support, decided, ...shape }) => shape) });

// --- layers: the labelers' shapes and the consensus, read-only ------------------------------------------
const layers = [
  ...config.layers.map((layer, index) => ({ key: String(index), ...layer })),
  { key: "consensus", name: "consensus", colour: "#1f2328", shapes: config.consensus[config.kind] ?? [], consensus: true },
];

const LAYER_TAG_PX = 12; // the size of the layer number written in a labeler's box
const LAYER_TAG_STEP_PX = 13; // one layer's number to the next, for boxes drawn on the same spot
const LAYER_TAG_MIN_PX = 24; // the narrowest box (on the screen) that carries its layer's number

class BoxLayers {
  constructor() {
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("layer-svg");
    this.svg.setAttribute("aria-hidden", "true");
    this.group = document.createElementNS(SVG, "g");
    this.svg.append(this.group);
    viewer.box.insertBefore(this.svg, editor.svg); // under the editor: the final boxes take the clicks
    this.groups = new Map();
    this.tags = []; // each box's layer number, placed by the editor with the final boxes' names
    this.size = { w: 0, h: 0 };
  }

  place() {
    const { naturalWidth: w, naturalHeight: h } = viewer.img;
    const { x, y } = viewer.view;
    if (w && (w !== this.size.w || h !== this.size.h)) {
      this.size = { w, h };
      this.draw();
      editor.layOutTags();
    }
    this.group.setAttribute("transform", `translate(${x} ${y}) scale(${viewer.view.scale})`);
  }

  // A layer was its colour alone: each box carries its layer's number (the key that toggles it, 0 the
  // consensus) inside its top-right corner, light on a dark halo, the same size at any zoom, the numbers of
  // boxes drawn on the same spot side by side (1 2 3 0 over one iguana). The editor places them with the
  // final boxes' names, none over another (../labeling/tag_layout.js): a number whose spot is taken moves
  // along the edge, a row down, or outside a box too small for it; each layer's keeps its spot when another
  // layer is hidden. A box a few pixels wide on the screen goes without.
  draw() {
    const { w, h } = this.size;
    this.group.replaceChildren();
    this.tags = [];
    layers.forEach((layer, index) => {
      const g = document.createElementNS(SVG, "g");
      g.dataset.layer = layer.name;
      g.classList.toggle("consensus", !!layer.consensus);
      g.style.setProperty("--layer", layer.colour);
      const number = layer.consensus ? "0" : String(index + 1);
      for (const s of layer.shapes) {
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", s.x * w);
        rect.setAttribute("y", s.y * h);
        rect.setAttribute("width", s.w * w);
        rect.setAttribute("height", s.h * h);
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${layer.name}: ${s.label}`;
        rect.append(title);
        const tag = document.createElementNS(SVG, "text");
        tag.setAttribute("class", "layer-tag");
        g.append(rect, tag);
        const box = { x: s.x * w, y: s.y * h, w: s.w * w, h: s.h * h };
        this.tags.push({
          el: tag, text: number, kind: "layer", px: LAYER_TAG_PX, weight: 700, box, step: LAYER_TAG_STEP_PX,
          slot: layer.consensus ? 0 : layers.length - 1 - index, // 1 2 3, then the consensus's 0
          get hidden() { return box.w * viewer.view.scale < LAYER_TAG_MIN_PX; },
        });
      }
      g.style.display = this.groups.get(layer.key)?.style.display ?? "";
      this.groups.set(layer.key, g);
      this.group.append(g);
    });
  }

  show(key, on) {
    const g = this.groups.get(key);
    if (g) g.style.display = on ? "" : "none";
  }
}

class SegmentLanes {
  constructor() {
    this.box = $("segment-lanes");
    this.rows = new Map();
    for (const layer of layers) {
      const row = document.createElement("div");
      row.className = "lane";
      row.dataset.layer = layer.name;
      row.classList.toggle("consensus", !!layer.consensus);
      row.style.setProperty("--layer", layer.colour);
      const name = document.createElement("span");
      name.className = "lane-name";
      name.textContent = layer.name;
      const track = document.createElement("div");
      track.className = "lane-track";
      row.append(name, track);
      this.rows.set(layer.key, { row, track, layer });
      this.box.append(row);
    }
    this.draw(config.duration);
    viewer.loaded.then(() => this.draw(viewer.wave?.getDuration() || config.duration));
  }

  draw(duration) {
    if (!duration) return;
    for (const { track, layer } of this.rows.values()) {
      track.replaceChildren(...layer.shapes.map((s) => {
        const span = document.createElement("span");
        span.className = "lane-segment";
        span.style.left = `${(100 * s.start) / duration}%`;
        span.style.width = `${(100 * (s.end - s.start)) / duration}%`;
        span.title = `${layer.name}: ${s.label} ${s.start.toFixed(2)}–${s.end.toFixed(2)} s`;
        return span;
      }));
    }
  }

  place() {}

  show(key, on) {
    const entry = this.rows.get(key);
    if (entry) entry.row.hidden = !on;
  }
}

const layerView = boxes ? new BoxLayers() : new SegmentLanes();
if (boxes) {
  editor.moreTags = () => layerView.tags;
  const placeEditor = viewer.onView;
  viewer.onView = () => { placeEditor?.(); layerView.place(); };
}
const checkboxes = [...document.querySelectorAll("#layers input[data-layer]")];
for (const box of checkboxes) box.addEventListener("change", () => layerView.show(box.dataset.layer, box.checked));
const toggleLayer = (key) => {
  const box = checkboxes.find((b) => b.dataset.layer === key);
  if (!box) return;
  box.checked = !box.checked;
  box.dispatchEvent(new Event("change"));
};

// --- the final shapes -----------------------------------------------------------------------------------
const classButtons = [...form.querySelectorAll(".class-button")];
function render() {
  if (!editor.unfinished && status.dataset.drawing) refusal(""); // the shape is made or forgotten: record away
  const n = editor.count;
  const same = JSON.stringify(editor.value()) === JSON.stringify(strip(config.consensus));
  summary.textContent = `Final: ${editor.describe()}${same ? " — the consensus" : ""}`;
  summary.dataset.count = String(n);
  const current = editor.currentClass;
  for (const b of classButtons) b.setAttribute("aria-pressed", String(b.dataset.label === current));
  draft.save();
}
classButtons.forEach((b) => b.addEventListener("click", () => editor.setClass(b.dataset.label)));

// --- the draft ------------------------------------------------------------------------------------------
// One per project, reviewer and item, in this tab's sessionStorage; never sent by itself: put back as the
// page opens, said on the status line with a button that discards it, and recorded by the SME as any
// decision. The page's state as it opened is taken, and the draft put back, before the page takes a key: the
// segment editor draws its shapes only once the clip is decoded, and what the SME does meanwhile (a copy, a
// flag, the rationale) is theirs, kept as the draft and never undone by the draft put back late.
const draft = new ItemDraft({
  name: `review.${config.project}.${config.item}`,
  user: document.body.dataset.user,
  item: config.item,
  snapshot: () => ({ fields: readForm(form), value: editor.value(), drawing: editor.pendingDraw ?? null, next: editor.sticky }),
  apply: (state) => {
    fillForm(form, state.fields ?? {});
    editor.cancelKeyDraw?.("");
    editor.load(state.value); // the segment editor draws them once the clip is decoded; its value is them now
    editor.stickTo(state.next);
    if (state.drawing) editor.resumeDraw(state.drawing);
    render();
  },
  extra: () => ({ latest: config.latest }),
});
form.addEventListener("input", () => draft.save());
form.addEventListener("change", () => draft.save());
window.addEventListener("pagehide", () => draft.save());
dropOthersDrafts(document.body.dataset.user);
pruneReviewDrafts(config.project, document.body.dataset.user);

// The box editor loads at once and says nothing; the segment editor draws its shapes once the clip is
// decoded (and says so on the summary until then).
viewer.show({ id: config.item, file: config.file });
editor.load(strip(config.start));
render();
draft.start().then((kept) => {
  if (!kept) return;
  announceDraft(status, reviewDraftNote(kept.latest, config.latest) + draftWithdrawalGone(form), async () => {
    await draft.discard();
    status.textContent = "Discarded: the decision is as the page opened it.";
  });
});
/** Say why the decision (or a change of the final shapes) waits, on the decision's status line; "" clears
 * it. */
function refusal(text) {
  status.textContent = text;
  status.classList.toggle("error", Boolean(text));
  if (text) status.dataset.drawing = "1";
  else delete status.dataset.drawing;
}

/** True (and said) while a box is being drawn from the keyboard, or a segment's start is marked with [ and
 * not yet ended: recording now, or replacing the final shapes, would drop it unseen. */
function drawingRefused() {
  if (!editor.unfinished) return false;
  refusal(`${editor.unfinished}; then record.`);
  return true;
}

// The editor's shapes replaced as one step of its history (undone by Ctrl+Z): kept in the draft at once,
// and shown again once drawn (the segment editor draws them once the clip is decoded).
const replace = (value, what) => {
  if (drawingRefused()) return Promise.resolve();
  const drawn = Promise.resolve(editor.replace(value, what));
  render();
  return drawn.then(render);
};
const restart = () => replace(strip(config.consensus), "edit from the consensus");
const clearShapes = () => replace({ [config.kind]: [] }, `clear the ${noun[1]}`);

$("reset-consensus").addEventListener("click", restart);
$("clear-shapes").addEventListener("click", clearShapes);
$("accept-consensus").addEventListener("click", () => submit({ accept: "consensus" }));
function copyLayer(index) {
  const layer = config.layers[index];
  if (layer) replace(strip({ [config.kind]: layer.shapes }), `copy ${layer.name}'s ${noun[1]}`);
}

// --- recording ------------------------------------------------------------------------------------------
let sending = false;
async function submit(extra = null) {
  if (sending) return; // a second Enter while the first is on its way records nothing more
  if (drawingRefused()) return;
  const action = extra ? "label" : form.querySelector("input[name=action]:checked").value;
  const body = { action, rationale: form.rationale.value, gold: action === "label" && form.gold.checked };
  if (extra) Object.assign(body, extra);
  else if (action === "label" || action === "ambiguous_instructions") body.value = editor.value();
  body.supersedes = config.latest;
  sending = true;
  status.textContent = "saving…";
  const { ok, status: code, data } = await sendJSON(config.decisionUrl, body, { what: "Your decision is" });
  sending = false;
  if (code === 409 && data.decision) {
    config.latest = data.decision.id; // seen now: sending again records over it
    status.textContent = decidedMeanwhile(data.decision, form);
    status.classList.add("error");
    return;
  }
  if (!ok) {
    status.textContent = data.detail;
    status.classList.add("error");
    return;
  }
  sending = true; // on the way to the next item
  draft.close();
  status.classList.remove("error");
  const n = data.value?.[config.kind]?.length;
  const item = $("shape-review").dataset.item;
  const said =
    action === "withdrawn"
      ? withdrawnSaid(item)
      : `Decision recorded on item #${item}${n === undefined ? "" : `: ${n} ${noun[n === 1 ? 0 : 1]}`}.`;
  status.textContent = said;
  sayOnNextPage(said); // this page goes: the next one says it
  $("shape-review").dataset.decided = data.id;
  location.href = config.nextUrl || config.queueUrl;
}
form.addEventListener("submit", (e) => {
  e.preventDefault();
  submit();
});

// --- keys -----------------------------------------------------------------------------------------------
const actionKeys = { a: "ambiguous_instructions", i: "input_insufficient", s: "relabel" };
let classPending = false;
// Skipping on purpose (n, or the link) gives up what was begun here; never a box being drawn, unseen.
$("skip-link")?.addEventListener("click", (e) => {
  if (drawingRefused()) e.preventDefault();
  else draft.close();
});

document.addEventListener("keydown", (e) => {
  if (e.target.closest?.("[data-draft-discard]") && (e.key === "Enter" || e.key === " ")) return; // the button's
  if (e.target.matches("textarea, input[type=text], select")) {
    if (e.key === "Escape") e.target.blur();
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    }
    return;
  }
  const history = editor.historyKey(e);
  if (history) {
    e.preventDefault();
    editor[history]();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  // A box being drawn from the keyboard takes its keys first: its Enter makes the box, never the decision.
  if (editor.drawing && editor.key(e)) {
    e.preventDefault();
    return;
  }
  if (keepsEnter(e, $("decide"))) return; // a focused class, Skip, "Nothing here"...: that control's
  if (classPending) {
    classPending = false;
    summary.classList.remove("pending");
    const c = config.classes.find((x) => x.hotkey === e.key);
    if (c) {
      e.preventDefault();
      editor.setClass(c.key);
      return;
    }
  }
  const digit = /^Digit([0-9])$/.exec(e.code);
  if (digit) {
    e.preventDefault();
    const n = Number(digit[1]);
    if (e.shiftKey) copyLayer(n - 1);
    else toggleLayer(n === 0 ? "consensus" : String(n - 1));
    return;
  }
  // Shift+N only clears: with Caps Lock on, n (skip) arrives as "N" without Shift, and cleared the final
  // shapes instead of skipping; Shift+N then arrives as "n" with Shift.
  const key = e.key === "N" || e.key === "n" ? (e.shiftKey ? "N" : "n") : e.key;
  const handled = (() => {
    switch (key) {
      case "k": classPending = true; summary.classList.add("pending"); summary.textContent = "class key…"; return true;
      case "c": submit({ accept: "consensus" }); return true;
      case "e": restart(); return true;
      case "N": clearShapes(); return true;
      case "b": return editor.toggleFlag("borderline");
      case "u": return editor.toggleFlag("uncertain");
      case "g": form.gold.checked = !form.gold.checked; draft.save(); return true;
      case "r": form.rationale.focus(); return true;
      case "n": $("skip-link")?.click(); return true;
      case "Enter": submit(); return true;
      case " ":
        if (boxes) return false; // the box editor's Space: pan
        viewer.toggle();
        return true;
      default:
        if (actionKeys[e.key]) {
          form.querySelector(`input[name=action][value=${actionKeys[e.key]}]`).checked = true;
          draft.save();
          return true;
        }
        return false;
    }
  })();
  if (handled || editor.key(e) || viewer.key(e)) e.preventDefault();
});
mouseClicksGiveFocusBack();
