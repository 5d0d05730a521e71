// Shape editors of the labeling page for localized projects: boxes on an image (detection) and time
// segments on a clip (segments). Both hold the answer the way the API stores it — boxes as fractions
// of the image's width and height, segments in seconds — and share one interface with label.js:
//   load(value), clear(), value() -> {"boxes" | "segments": [...]}, count, selected, currentClass,
//   setClass(key), toggleFlag(name) -> bool, key(event) -> bool, describe() -> text, onChange().
// Each item has its own undo history: every change to the shapes (draw, move, resize, delete, class,
// flag, replace(value, what) for a page's "copy" or "clear") can be undone and redone; load() and clear()
// start it afresh. historyKey(event) names Ctrl/Cmd+Z ("undo"), Ctrl/Cmd+Shift+Z and Ctrl+Y ("redo");
// the page calls undo() / redo() (they never submit) and shows onHistory(text): "Undid: delete box 2".
// The previous class sticks: a new shape takes the class last chosen. ``classMap`` (old key -> today's,
// from the project's taxonomy changes) maps the labels of the shapes loaded: answers keep old keys.

import { layOutTags } from "./tag_layout.js";

const SVG = "http://www.w3.org/2000/svg";
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
const FLAGS = ["borderline", "uncertain"];
const HISTORY_MAX = 200; // undo steps kept per item
const MERGE_MS = 1500; // repeated nudges of one shape within this long are one undo step

function rgba(hex, alpha) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  const [r, g, b] = m ? m.slice(1).map((h) => parseInt(h, 16)) : [11, 99, 197];
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

class ShapeEditor {
  constructor({ kind, noun, classes, classMap, options, onChange, onHistory, tabLeaves = false }) {
    this.kind = kind;
    // Tab past the last shape (Shift+Tab before the first) lets go of the shapes, and the keyboard goes on
    // through the page, instead of wrapping round (the review page: its final shapes are there from the start,
    // and Tab never reached the skip link, the top bar or the decision form).
    this.tabLeaves = tabLeaves;
    this.classMap = classMap || {};
    this.noun = noun; // [singular, plural]
    this.classByKey = new Map(classes.map((c) => [c.key, c]));
    this.options = options || {};
    this.onChange = onChange || (() => {});
    this.onHistory = onHistory || (() => {});
    this.shapes = [];
    this.selectedIndex = -1;
    this.sticky = classes[0]?.key ?? "";
    this.historyNote = "";
    this.forget();
  }

  get count() { return this.shapes.length; }
  get selected() { return this.shapes[this.selectedIndex] ?? null; }
  get currentClass() { return this.selected ? this.selected.label : this.sticky; }
  /** A shape begun from the keyboard and not yet made, which sending the shapes now would drop unseen: what
   * to say of it ("A box is being drawn: ..."), or "" when there is none. */
  get unfinished() { return ""; }
  colour(key) { return this.classByKey.get(key)?.colour || "#0b63c5"; }
  name(key) { return this.classByKey.get(key)?.name ?? key; }

  changed() { this.onChange(); }

  // --- undo / redo: each step keeps the shapes (and the selection) as they were before it -----------------
  forget() {
    this.history = { undo: [], redo: [] };
    this.merging = null;
    this.note("");
  }

  note(text) {
    if (text === this.historyNote) return;
    this.historyNote = text;
    this.onHistory(text);
  }

  // A shape as data: a segment's region is the page's, not the answer's.
  snapshot() {
    return { shapes: this.shapes.map(({ region, ...shape }) => ({ ...shape })), selected: this.selectedIndex };
  }

  same(a, b) { return JSON.stringify(a.shapes) === JSON.stringify(b.shapes); }

  /** Remember ``before`` as the state ``what`` ("delete box 2") changed. Steps with the same ``merge`` key
   * in quick succession (an arrow key held down) are one step. */
  record(what, before, merge = null) {
    const now = Date.now();
    const again = merge && this.merging?.key === merge && now - this.merging.at < MERGE_MS;
    this.merging = merge ? { key: merge, at: now } : null;
    this.history.redo = [];
    this.note("");
    if (again) return;
    this.history.undo.push({ what, before });
    if (this.history.undo.length > HISTORY_MAX) this.history.undo.shift();
  }

  /** Run ``change`` (which mutates the shapes) and record it as ``what`` if it changed them. */
  edit(what, change, merge = null) {
    const before = this.snapshot();
    const result = change();
    if (!this.same(before, this.snapshot())) this.record(what, before, merge);
    return result;
  }

  shapeName(index) { return `${this.noun[0]} ${index + 1}`; }

  undo() { return this.step("undo", "redo", "Undid"); }
  redo() { return this.step("redo", "undo", "Redid"); }

  step(from, to, verb) {
    const entry = this.history[from].pop();
    if (!entry) {
      this.note(`Nothing to ${from}`);
      return false;
    }
    this.history[to].push({ what: entry.what, before: this.snapshot() });
    this.merging = null;
    this.restore(entry.before);
    this.note(`${verb}: ${entry.what}`);
    return true;
  }

  /** "undo", "redo" or null: Ctrl+Z (Cmd+Z on a Mac) undoes, Ctrl+Shift+Z and Ctrl+Y redo. The letter is
   * the layout's (Z on an AZERTY keyboard too), or the key's place when the layout has no Latin letters. */
  historyKey(event) {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return null;
    const letter = /^[a-z]$/i.test(event.key) ? event.key.toLowerCase() : { KeyZ: "z", KeyY: "y" }[event.code];
    if (letter === "z") return event.shiftKey ? "redo" : "undo";
    if (letter === "y" && !event.shiftKey) return "redo";
    return null;
  }

  /** The item's shapes, afresh: a new history. */
  load(value) {
    this.forget();
    return this.show(this.shapesFrom(value));
  }

  /** Replace the shapes by ``value`` as one step of the history (a labeler's shapes copied, a clear). */
  replace(value, what) {
    const before = this.snapshot();
    const shapes = this.shapesFrom(value);
    const result = this.show(shapes);
    if (!this.same(before, { shapes })) this.record(what, before);
    return result;
  }

  /** The class the next shape takes, as a page's draft kept it (false for a class the project no longer
   * has). Nothing is recorded: no shape changes. */
  stickTo(key) {
    if (!this.classByKey.has(key)) return false;
    this.sticky = key;
    return true;
  }

  setClass(key) {
    this.sticky = key;
    const index = this.selectedIndex;
    this.edit(`set ${this.shapeName(index)} to ${this.name(key)}`, () => {
      if (this.selected) {
        this.selected.label = key;
        this.draw(this.selectedIndex);
      }
    });
    this.changed();
  }

  toggleFlag(name) {
    if (!this.options[name] || !this.selected) return false;
    const index = this.selectedIndex;
    const what = `${this.selected[name] ? "unmark" : "mark"} ${this.shapeName(index)} ${name}`;
    this.edit(what, () => {
      this.selected[name] = !this.selected[name];
      this.draw(this.selectedIndex);
    });
    this.changed();
    return true;
  }

  select(index) {
    const before = this.selectedIndex;
    this.selectedIndex = index;
    if (before >= 0 && before < this.shapes.length) this.draw(before);
    if (index >= 0) this.draw(index);
    this.selectionChanged();
    this.changed();
  }

  cycle(direction) {
    const n = this.shapes.length;
    if (!n) return;
    const i = this.selectedIndex < 0 ? (direction > 0 ? 0 : n - 1) : (this.selectedIndex + direction + n) % n;
    this.select(i);
  }

  // The shape as the API takes it: coordinates, label, and the flags that are set.
  out(shape) {
    const row = {};
    for (const field of this.fields) row[field] = shape[field];
    row.label = shape.label;
    for (const flag of FLAGS) if (shape[flag] && this.options[flag]) row[flag] = true;
    return row;
  }

  value() {
    return { [this.kind]: this.shapes.map((s) => this.out(s)) };
  }

  shapesFrom(value) {
    let parsed = value;
    if (typeof value === "string") {
      try { parsed = value ? JSON.parse(value) : null; } catch { parsed = null; }
    }
    const list = parsed && Array.isArray(parsed[this.kind]) ? parsed[this.kind] : [];
    const today = (key) => (Object.hasOwn(this.classMap, key) ? this.classMap[key] : key);
    return list.map((s) => ({ ...s, label: today(s.label) }));
  }

  describe() {
    const n = this.shapes.length;
    const parts = [`${n || "no"} ${this.noun[n === 1 ? 0 : 1]}`];
    const s = this.selected;
    if (s) {
      const flags = FLAGS.filter((f) => s[f]);
      parts.push(`#${this.selectedIndex + 1} ${this.name(s.label)}${flags.length ? ` (${flags.join(", ")})` : ""}`);
    } else if (this.sticky) {
      parts.push(`next: ${this.name(this.sticky)}`);
    }
    return parts.join(" · ");
  }

  // Keys every editor shares; the rest is ownKey's. Answers true when the key was used.
  key(event) {
    switch (event.key) {
      case "Tab":
        // A control reached with Tab (or the keys c, r) keeps its Tab: the keyboard moves on through the page's
        // controls, as anywhere on the web. With none focused, Tab cycles the shapes.
        if (!this.shapes.length || event.target.closest?.("button, a[href], input, select, textarea")) return false;
        if (this.tabLeaves && this.selectedIndex >= 0) {
          const next = this.selectedIndex + (event.shiftKey ? -1 : 1);
          if (next < 0 || next >= this.shapes.length) {
            this.select(-1);
            this.note(`No ${this.noun[0]} selected: Tab goes on through the page`);
            return false; // the browser's Tab: on to the next control
          }
        }
        this.cycle(event.shiftKey ? -1 : 1);
        return true;
      case "Delete": case "Backspace":
        if (!this.selected) return false;
        this.remove(this.selectedIndex);
        return true;
      case "Escape":
        if (!this.selected) return false;
        this.select(-1);
        return true;
      default:
        return this.ownKey(event);
    }
  }
}

// --- boxes on an image ---------------------------------------------------------------------------------
const MIN_DRAW_PX = 4; // a drag shorter than this on screen is a click, not a box
const NUDGE_PX = 2; // an arrow key moves (Shift: resizes) the box this many screen pixels; zoom in for finer
const HANDLE_PX = 9;
const TOUCH_HANDLE_PX = 16; // a finger takes a handle this far from its centre, in screen pixels
const TAG_PX = 13; // the size of the class name written over a box
const TAG_MIN_PX = 16; // the narrowest box (on the screen) whose class is written over it
const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const FAR_STEPS = 10; // Shift+arrow moves the keyboard's crosshair this many steps
const VIEW_MARGIN_PX = 24; // the crosshair is kept at least this far inside the viewer (it pans)
const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
// The corners Shift+arrows can move, in the order the corner key (h) takes them: bottom-right first (the
// right and bottom edges, as before the key), then round the box. Each is named by its handle.
const CORNERS = ["se", "sw", "nw", "ne"];
const CORNER_NAMES = { se: "bottom-right", sw: "bottom-left", nw: "top-left", ne: "top-right" };
const cornerEdges = (corner) => `${corner[1] === "w" ? "left" : "right"} and ${corner[0] === "n" ? "top" : "bottom"} edges`;

export class BoxEditor extends ShapeEditor {
  /** ``viewer``: the page's ImageViewer (its view {x, y, scale} places the image in its box).
   * ``options.drawKey``: the key that starts a box from the keyboard (x); without it only the mouse draws.
   * ``options.cornerKey``: the key that chooses the corner of the selected box Shift+arrows move (h);
   * without it they move its right and bottom edges. */
  constructor(viewer, options) {
    super({ kind: "boxes", noun: ["box", "boxes"], ...options });
    this.fields = ["x", "y", "w", "h"];
    this.viewer = viewer;
    this.size = { w: 0, h: 0 };
    this.rects = []; // one <rect> per box, in the order of this.shapes
    this.space = false;
    this.drag = null;
    this.drawKey = options?.drawKey || "";
    this.cornerKey = options?.cornerKey || "";
    this.moreTags = () => []; // tags of another drawing over the image that the boxes' tags keep clear of
    this.corner = CORNERS[0]; // the corner of the selected box Shift+arrows move; each item starts at se
    this.keyDraw = null; // a box being drawn from the keyboard: {anchor: {x, y} | null, at: {x, y}} in image pixels
    this.cursor = null; // where the keyboard's crosshair was last, in image pixels (the next one starts there)
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("box-layer");
    this.svg.setAttribute("data-testid", "box-layer");
    this.svg.setAttribute("aria-hidden", "true"); // said in words instead: the answer's summary, the notes
    // One group carries the view's translate and scale: zoom and pan move it, never the boxes.
    this.layer = document.createElementNS(SVG, "g");
    this.boxGroup = document.createElementNS(SVG, "g");
    this.tagGroup = document.createElementNS(SVG, "g"); // each box's number and class, in words
    this.tagGroup.classList.add("box-tags");
    this.handleGroup = document.createElementNS(SVG, "g");
    this.handles = HANDLES.map((name) => {
      const handle = document.createElementNS(SVG, "rect");
      handle.classList.add("handle", `handle-${name}`);
      handle.dataset.handle = name;
      this.handleGroup.append(handle);
      return handle;
    });
    this.handleGroup.style.display = "none";
    // The keyboard's crosshair (two lines across the image, each a dark halo under a light line, seen on
    // any picture) and the box it is drawing.
    this.cursorGroup = document.createElementNS(SVG, "g");
    this.cursorGroup.classList.add("crosshair");
    this.cursorGroup.setAttribute("data-testid", "crosshair");
    this.cursorLines = ["halo", "halo", "line", "line"].map((kind) => {
      const line = document.createElementNS(SVG, "line");
      line.classList.add(kind);
      return line;
    });
    this.pendingRect = document.createElementNS(SVG, "rect");
    this.pendingRect.classList.add("pending-box");
    this.cursorGroup.append(this.pendingRect, ...this.cursorLines);
    this.cursorGroup.style.display = "none";
    this.layer.append(this.boxGroup, this.tagGroup, this.handleGroup, this.cursorGroup);
    this.svg.append(this.layer);
    viewer.box.append(this.svg);
    viewer.box.classList.add("drawing");
    viewer.onView = () => this.place();
    viewer.onGesture = () => this.dropDrag();

    this.svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.svg.addEventListener("pointermove", (event) => this.pointerMove(event));
    this.svg.addEventListener("pointerup", (event) => this.pointerUp(event));
    this.svg.addEventListener("pointercancel", (event) => this.pointerUp(event));
    // Space held down: the mouse pans instead of drawing (as does dragging outside the image).
    document.addEventListener("keydown", (event) => {
      if (event.key === " " && !event.repeat && !(event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement)) {
        this.space = true;
        this.svg.classList.add("panning");
      }
    });
    document.addEventListener("keyup", (event) => {
      if (event.key === " ") { this.space = false; this.svg.classList.remove("panning"); }
    });
  }

  show(shapes) {
    this.drag = null;
    this.keyDraw = null;
    this.cursor = null;
    this.shapes = shapes;
    this.selectedIndex = -1;
    this.drawAll();
    this.selectionChanged();
  }

  restore({ shapes, selected }) {
    this.drag = null;
    this.keyDraw = null;
    this.shapes = shapes.map((s) => ({ ...s }));
    this.selectedIndex = selected < this.shapes.length ? selected : -1;
    this.drawAll();
    this.selectionChanged();
    this.changed();
  }

  clear() { this.load(null); }

  load(value) {
    this.corner = CORNERS[0]; // a new item: Shift+arrows move the right and bottom edges, as the help says
    return super.load(value);
  }

  // --- drawing: each box is one <rect> in image pixels; a drag redraws only its box -----------------
  place() {
    const { naturalWidth: w, naturalHeight: h } = this.viewer.img;
    if (w !== this.size.w || h !== this.size.h) {
      this.size = { w, h };
      this.drawAll();
    }
    const { x, y, scale } = this.viewer.view;
    this.layer.setAttribute("transform", `translate(${x} ${y}) scale(${scale})`);
    this.placeHandles();
    if (scale !== this.tagScale) this.layOutTags(); // the same size on the screen at any zoom
  }

  drawAll() {
    this.rects = this.shapes.map(() => document.createElementNS(SVG, "rect"));
    this.boxGroup.replaceChildren(...this.rects);
    this.newTags();
    this.drawingAll = true;
    for (let i = 0; i < this.shapes.length; i++) this.draw(i); // each box, then their tags
    this.drawingAll = false;
    this.layOutTags();
    this.placeHandles();
    this.drawCrosshair();
  }

  draw(index) {
    const rect = this.rects[index];
    const s = this.shapes[index];
    if (!rect || !s) return;
    const { w, h } = this.size;
    rect.setAttribute("x", s.x * w);
    rect.setAttribute("y", s.y * h);
    rect.setAttribute("width", s.w * w);
    rect.setAttribute("height", s.h * h);
    rect.dataset.index = index;
    rect.setAttribute("class", ["box", index === this.selectedIndex && "selected", s.borderline && "borderline", s.uncertain && "uncertain"]
      .filter(Boolean).join(" "));
    rect.style.setProperty("--box", this.colour(s.label));
    if (!this.drawingAll) this.layOutTags(); // a box moved can take another's tag spot, or free it
    if (index === this.selectedIndex) this.placeHandles();
  }

  // A box's class is its colour and, for whoever tells colours apart poorly, its name written over its top-left
  // corner (inside it at the image's top edge), light on a dark halo like the crosshair, the same size at any
  // zoom. Tags never cover one another (./tag_layout.js): boxes that touch move theirs aside; those of
  // ``moreTags()`` (the review page's layer numbers, drawn in another SVG over the same image) too. A box a
  // few pixels wide on the screen goes without (zoom in, or Tab to it: the summary names it).
  layOutTags() {
    if (this.tagGroup.children.length !== this.shapes.length) this.newTags();
    const scale = this.viewer.view.scale || 1;
    this.tagScale = this.viewer.view.scale;
    if (!this.size.w) return;
    const { w, h } = this.size;
    const own = this.shapes.map((s, i) => ({
      el: this.tagGroup.children[i], text: this.name(s.label), kind: "name", px: TAG_PX, weight: 600,
      box: { x: s.x * w, y: s.y * h, w: s.w * w, h: s.h * h }, hidden: s.w * w * scale < TAG_MIN_PX,
    }));
    layOutTags([...own, ...this.moreTags()], { width: w, height: h, scale, family: getComputedStyle(this.svg).fontFamily });
  }

  newTags() {
    this.tagGroup.replaceChildren(...this.shapes.map(() => {
      const tag = document.createElementNS(SVG, "text");
      tag.setAttribute("class", "box-tag");
      return tag;
    }));
  }

  selectionChanged() {
    const rect = this.rects[this.selectedIndex];
    if (rect) this.boxGroup.append(rect); // drawn on top, so its body wins the clicks; the answer's order stays
    this.placeHandles();
  }

  placeHandles() {
    const s = this.selected;
    if (!s || !this.size.w) {
      this.handleGroup.style.display = "none";
      return;
    }
    this.handleGroup.style.display = "";
    const { w, h } = this.size;
    const side = HANDLE_PX / this.viewer.view.scale;
    const xs = { w: s.x * w, c: (s.x + s.w / 2) * w, e: (s.x + s.w) * w };
    const ys = { n: s.y * h, c: (s.y + s.h / 2) * h, s: (s.y + s.h) * h };
    for (const handle of this.handles) {
      const name = handle.dataset.handle;
      const hx = name.includes("w") ? xs.w : name.includes("e") ? xs.e : xs.c;
      const hy = name.includes("n") ? ys.n : name.includes("s") ? ys.s : ys.c;
      handle.setAttribute("x", hx - side / 2);
      handle.setAttribute("y", hy - side / 2);
      handle.setAttribute("width", side);
      handle.setAttribute("height", side);
      handle.classList.toggle("active", name === this.corner); // the corner Shift+arrows move
    }
  }

  remove(index) {
    this.record(`delete ${this.shapeName(index)}`, this.snapshot());
    this.shapes.splice(index, 1);
    this.rects.splice(index, 1)[0]?.remove();
    this.layOutTags(); // its tag goes, and frees its spot
    for (let i = index; i < this.shapes.length; i++) this.rects[i].dataset.index = i;
    this.selectedIndex = -1;
    this.placeHandles();
    this.changed();
  }

  // --- mouse ---------------------------------------------------------------------------------------------
  point(event) {
    const rect = this.viewer.box.getBoundingClientRect();
    const { x, y, scale } = this.viewer.view;
    return {
      x: (event.clientX - rect.left - x) / scale / this.size.w,
      y: (event.clientY - rect.top - y) / scale / this.size.h,
    };
  }

  pointerDown(event) {
    if (this.keyDraw) this.cancelKeyDraw("The mouse took over: the box begun from the keyboard is dropped");
    if (event.button !== 0 || this.space || !this.size.w) return; // left to the viewer: pan
    const p = this.point(event);
    // Shift held: a new box even where a box is (one inside another, or over a box covering the image);
    // else a press on a box moves it and one on a handle resizes the selected box.
    const target = event.shiftKey ? this.svg : (event.pointerType !== "mouse" && this.handleNear(event)) || event.target;
    if (target.dataset.handle && this.selected) {
      this.drag = { mode: "resize", handle: target.dataset.handle, from: { ...this.selected }, snapshot: this.snapshot() };
    } else if (target.dataset.index !== undefined) {
      this.select(Number(target.dataset.index));
      this.drag = { mode: "move", start: p, from: { ...this.selected }, snapshot: this.snapshot() };
    } else if (p.x >= 0 && p.y >= 0 && p.x <= 1 && p.y <= 1) {
      const snapshot = this.snapshot();
      this.shapes.push({ x: p.x, y: p.y, w: 0, h: 0, label: this.sticky });
      this.rects.push(document.createElementNS(SVG, "rect"));
      this.boxGroup.append(this.rects.at(-1));
      const index = this.shapes.length - 1;
      const before = this.selectedIndex;
      this.selectedIndex = index;
      if (before >= 0) this.draw(before);
      this.draw(index);
      this.drag = { mode: "draw", start: p, before, snapshot };
    } else {
      return; // outside the image: pan
    }
    event.stopPropagation();
    event.preventDefault();
    this.svg.setPointerCapture(event.pointerId);
  }

  // A fingertip covers far more than a handle (9 px) and lands a few pixels off where its owner aimed: a
  // touch or a pen takes the selected box's handle nearest it within TOUCH_HANDLE_PX (a 32 px target), as
  // the mouse takes the handle under it. It drew a new box over the corner instead. Inside the box the reach
  // is a quarter of its smaller side at most, so that a small box can still be moved by its middle.
  handleNear(event) {
    if (!this.selected || event.target.dataset?.handle) return null;
    const box = this.rects[this.selectedIndex].getBoundingClientRect();
    const inside = event.clientX > box.left && event.clientX < box.right && event.clientY > box.top && event.clientY < box.bottom;
    let best = null;
    let bestDistance = inside ? Math.max(HANDLE_PX / 2, Math.min(TOUCH_HANDLE_PX, Math.min(box.width, box.height) / 4)) : TOUCH_HANDLE_PX;
    for (const handle of this.handles) {
      const r = handle.getBoundingClientRect();
      const distance = Math.hypot(event.clientX - (r.left + r.width / 2), event.clientY - (r.top + r.height / 2));
      if (distance <= bestDistance) [best, bestDistance] = [handle, distance];
    }
    return best;
  }

  // A second finger landed (ImageViewer's pinch and pan): the drag the first one began was the gesture's
  // start, not an edit. The box it was drawing goes, one it was moving or resizing goes back.
  dropDrag() {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    this.restore(drag.snapshot);
  }

  pointerMove(event) {
    const drag = this.drag;
    if (!drag) return;
    const p = this.point(event);
    const s = this.selected;
    const px = clamp(p.x, 0, 1);
    const py = clamp(p.y, 0, 1);
    if (drag.mode === "draw") {
      Object.assign(s, {
        x: Math.min(drag.start.x, px), y: Math.min(drag.start.y, py),
        w: Math.abs(px - drag.start.x), h: Math.abs(py - drag.start.y),
      });
    } else if (drag.mode === "move") {
      s.x = clamp(drag.from.x + p.x - drag.start.x, 0, 1 - drag.from.w);
      s.y = clamp(drag.from.y + p.y - drag.start.y, 0, 1 - drag.from.h);
    } else {
      const f = drag.from;
      let [left, right, top, bottom] = [f.x, f.x + f.w, f.y, f.y + f.h];
      if (drag.handle.includes("w")) left = px;
      if (drag.handle.includes("e")) right = px;
      if (drag.handle.includes("n")) top = py;
      if (drag.handle.includes("s")) bottom = py;
      Object.assign(s, { x: Math.min(left, right), y: Math.min(top, bottom), w: Math.abs(right - left), h: Math.abs(bottom - top) });
    }
    this.draw(this.selectedIndex);
  }

  pointerUp(event) {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    if (this.svg.hasPointerCapture(event.pointerId)) this.svg.releasePointerCapture(event.pointerId);
    const s = this.selected;
    const pixels = this.viewer.view.scale;
    const tiny = s.w * this.size.w * pixels < MIN_DRAW_PX || s.h * this.size.h * pixels < MIN_DRAW_PX;
    if (drag.mode === "draw" && tiny) {
      // A click on the image: no box; it clears the selection.
      this.shapes.pop();
      this.rects.pop().remove();
      this.selectedIndex = -1;
      this.placeHandles();
      this.changed();
      return;
    }
    if (drag.mode === "resize" && (s.w <= 0 || s.h <= 0)) Object.assign(s, drag.from);
    const what = drag.mode === "draw" ? "draw" : drag.mode; // draw, move, resize
    if (!this.same(drag.snapshot, this.snapshot())) this.record(`${what} ${this.shapeName(this.selectedIndex)}`, drag.snapshot);
    this.draw(this.selectedIndex);
    this.changed();
  }

  // --- keyboard --------------------------------------------------------------------------------------------
  // The draw key (x) shows a crosshair; the arrows move it (Shift: ten steps), Enter sets the first corner,
  // the arrows then move the opposite one (Tab: the other corner) and Enter makes the box, in the class
  // last chosen (a class key while drawing chooses it), as a drag would: one undo step, selected. Esc
  // cancels. Each step is said on the status line (a live region) in image pixels.
  key(event) {
    if (this.keyDraw) return this.keyDrawKey(event);
    if (this.drawKey && event.key === this.drawKey) {
      if (!event.repeat) this.startKeyDraw();
      return true;
    }
    if (this.cornerKey && event.key === this.cornerKey) {
      if (!event.repeat) this.nextCorner();
      return true;
    }
    return super.key(event);
  }

  get drawing() { return Boolean(this.keyDraw); }
  get unfinished() { return this.keyDraw ? "A box is being drawn: Enter makes it, Esc cancels it" : ""; }

  /** The image pixel nearest a point given in the answer's fractions of the image. */
  pixels(fx, fy) { return { x: Math.round(fx * this.size.w), y: Math.round(fy * this.size.h) }; }

  /** "40 × 22 px at 128, 96" (image pixels): where a box is, for the status line. */
  where(index) {
    const s = this.shapes[index];
    const corner = this.pixels(s.x, s.y);
    const size = this.pixels(s.w, s.h);
    return `${size.x} × ${size.y} px at ${corner.x}, ${corner.y}`;
  }

  startKeyDraw() {
    if (!this.size.w) {
      this.note("The image is still loading");
      return;
    }
    if (this.selected) this.select(-1);
    const at = this.cursor && this.inView(this.cursor) ? { ...this.cursor } : this.viewCentre();
    this.keyDraw = { anchor: null, at };
    this.drawCrosshair();
    this.note(`Crosshair at ${at.x}, ${at.y} of ${this.size.w} × ${this.size.h} px: arrows move it (Shift: faster), `
      + "Enter sets a corner, Esc cancels");
    this.changed();
  }

  keyDrawKey(event) {
    const draw = this.keyDraw;
    if (!this.size.w && (event.key in MOVES || event.key === "Enter")) {
      this.note("The image is still loading"); // a box put back from the draft waits for its image
      return true;
    }
    if (event.key in MOVES) {
      const [dx, dy] = MOVES[event.key];
      const step = Math.max(1, Math.round(NUDGE_PX / this.viewer.view.scale)) * (event.shiftKey ? FAR_STEPS : 1);
      draw.at = { x: clamp(draw.at.x + dx * step, 0, this.size.w), y: clamp(draw.at.y + dy * step, 0, this.size.h) };
      this.keepInView(draw.at);
      this.drawCrosshair();
      this.note(this.keyDrawState());
      this.changed(); // the page keeps the box being drawn in its draft
      return true;
    }
    switch (event.key) {
      case "Enter":
        if (!draw.anchor) {
          draw.anchor = { ...draw.at };
          this.drawCrosshair();
          this.note(`First corner at ${draw.at.x}, ${draw.at.y}: move to the opposite corner, then Enter (Tab: move the first one)`);
          this.changed();
        } else {
          this.finishKeyDraw();
        }
        return true;
      case "Tab":
        if (draw.anchor) {
          [draw.anchor, draw.at] = [draw.at, draw.anchor];
          this.keepInView(draw.at);
          this.drawCrosshair();
          this.note(`Moving the corner at ${draw.at.x}, ${draw.at.y}`);
          this.changed();
        }
        return true; // no box to cycle to while one is drawn
      case "Escape":
        this.cancelKeyDraw("Cancelled the new box");
        return true;
      case this.drawKey:
        return true; // drawing already (a held key repeats)
      default:
        return false; // class keys, zoom, flags: the page's
    }
  }

  /** The box being drawn from the keyboard as data, for the page's draft: {anchor, at, label} in image
   * pixels (anchor null until the first Enter), or null when none is. */
  get pendingDraw() {
    const draw = this.keyDraw;
    return draw ? { anchor: draw.anchor && { ...draw.anchor }, at: { ...draw.at }, label: this.sticky } : null;
  }

  /** Put back a box being drawn that a draft kept (a reload mid-draw): the crosshair where it was, the first
   * corner if set, its class. Called after load(); answers false (and draws nothing) for a draft it cannot
   * read. The image may still be loading: the crosshair shows once it has. */
  resumeDraw(pending) {
    const point = (p) => p && Number.isInteger(p.x) && Number.isInteger(p.y) && p.x >= 0 && p.y >= 0;
    if (!pending || !point(pending.at) || (pending.anchor !== null && !point(pending.anchor))) return false;
    if (this.classByKey.has(pending.label)) this.sticky = pending.label;
    this.keyDraw = { anchor: pending.anchor && { ...pending.anchor }, at: { ...pending.at } };
    this.drawCrosshair();
    const { anchor, at } = this.keyDraw;
    this.note(`The box you were drawing is back: ${anchor ? `first corner at ${anchor.x}, ${anchor.y}, ` : ""}`
      + `crosshair at ${at.x}, ${at.y}; ${anchor ? "Enter makes it" : "Enter sets a corner"}, Esc cancels it`);
    this.changed();
    return true;
  }

  /** What a page's draft note says of the box put back by resumeDraw. */
  get pendingNote() { return "the box you were drawing: Enter makes it, Esc cancels it"; }

  keyDrawState() {
    const { anchor, at } = this.keyDraw;
    if (!anchor) return `Crosshair at ${at.x}, ${at.y}`;
    return `Box ${Math.abs(at.x - anchor.x)} × ${Math.abs(at.y - anchor.y)} px from ${Math.min(at.x, anchor.x)}, `
      + `${Math.min(at.y, anchor.y)}`;
  }

  finishKeyDraw() {
    const { anchor, at } = this.keyDraw;
    const { w, h } = this.size;
    if (at.x === anchor.x || at.y === anchor.y) {
      this.note("The box has no width or no height: move the corner with the arrows, then Enter");
      return;
    }
    // Fractions of the image, as a drag between the same two corners makes them.
    const shape = {
      x: Math.min(anchor.x, at.x) / w, y: Math.min(anchor.y, at.y) / h,
      w: Math.abs(at.x - anchor.x) / w, h: Math.abs(at.y - anchor.y) / h, label: this.sticky,
    };
    const before = this.snapshot();
    this.cursor = { ...at };
    this.keyDraw = null;
    this.drawCrosshair();
    this.shapes.push(shape);
    this.rects.push(document.createElementNS(SVG, "rect"));
    this.boxGroup.append(this.rects.at(-1));
    const index = this.shapes.length - 1;
    this.record(`draw ${this.shapeName(index)}`, before);
    this.select(index);
    this.note(`Drew ${this.shapeName(index)}, ${this.name(shape.label)}: ${this.where(index)}`);
  }

  cancelKeyDraw(text) {
    if (!this.keyDraw) return;
    this.cursor = { ...this.keyDraw.at };
    this.keyDraw = null;
    this.drawCrosshair();
    this.note(text);
    this.changed();
  }

  drawCrosshair() {
    const draw = this.keyDraw;
    if (!draw || !this.size.w) {
      this.cursorGroup.style.display = "none";
      return;
    }
    this.cursorGroup.style.display = "";
    const { w, h } = this.size;
    const { x, y } = draw.at;
    this.cursorLines.forEach((line, i) => {
      const across = i % 2 === 0; // the horizontal line, then the vertical one
      line.setAttribute("x1", across ? 0 : x);
      line.setAttribute("x2", across ? w : x);
      line.setAttribute("y1", across ? y : 0);
      line.setAttribute("y2", across ? y : h);
    });
    const rect = this.pendingRect;
    rect.style.display = draw.anchor ? "" : "none";
    rect.style.setProperty("--box", this.colour(this.sticky));
    if (!draw.anchor) return;
    rect.setAttribute("x", Math.min(x, draw.anchor.x));
    rect.setAttribute("y", Math.min(y, draw.anchor.y));
    rect.setAttribute("width", Math.abs(x - draw.anchor.x));
    rect.setAttribute("height", Math.abs(y - draw.anchor.y));
  }

  /** The screen place of an image pixel within the viewer. */
  screen(p) {
    const { x, y, scale } = this.viewer.view;
    return { x: x + p.x * scale, y: y + p.y * scale };
  }

  inView(p) {
    const s = this.screen(p);
    const { clientWidth: width, clientHeight: height } = this.viewer.box;
    return s.x >= 0 && s.y >= 0 && s.x <= width && s.y <= height;
  }

  /** The pixel of the image at the middle of what the viewer shows of it. */
  viewCentre() {
    const { x, y, scale } = this.viewer.view;
    const { clientWidth: width, clientHeight: height } = this.viewer.box;
    return {
      x: clamp(Math.round((width / 2 - x) / scale), 0, this.size.w),
      y: clamp(Math.round((height / 2 - y) / scale), 0, this.size.h),
    };
  }

  /** Pan so that ``p`` stays inside the viewer (zoomed in, the crosshair walks off the screen). */
  keepInView(p) {
    const s = this.screen(p);
    const { clientWidth: width, clientHeight: height } = this.viewer.box;
    const margin = Math.min(VIEW_MARGIN_PX, width / 4, height / 4);
    const shift = (at, size) => (at < margin ? margin - at : at > size - margin ? size - margin - at : 0);
    const dx = shift(s.x, width);
    const dy = shift(s.y, height);
    if (dx || dy) this.viewer.pan(dx, dy);
  }

  setClass(key) {
    super.setClass(key);
    this.drawCrosshair(); // the box being drawn takes the class's colour
  }

  undo() {
    if (!this.keyDraw) return super.undo();
    this.cancelKeyDraw("Undid: the box being drawn");
    return true;
  }

  redo() {
    this.cancelKeyDraw("");
    return super.redo();
  }

  describe() {
    if (!this.keyDraw) return super.describe();
    const n = this.shapes.length;
    return `${n || "no"} ${this.noun[n === 1 ? 0 : 1]} · drawing ${this.shapeName(n)}: ${this.name(this.sticky)}`;
  }

  cycle(direction) {
    super.cycle(direction);
    const i = this.selectedIndex;
    if (this.selected) this.note(`${this.shapeName(i)} of ${this.shapes.length}, ${this.name(this.selected.label)}: ${this.where(i)}`);
  }

  /** The corner key: the next corner of the selected box for Shift+arrows, its handle filled, said. */
  nextCorner() {
    if (!this.selected) {
      this.note("No box is selected: Tab selects one, then this key chooses the corner Shift+arrows move");
      return;
    }
    this.corner = CORNERS[(CORNERS.indexOf(this.corner) + 1) % CORNERS.length];
    this.placeHandles();
    this.note(`${this.shapeName(this.selectedIndex)}: Shift+arrows move its ${CORNER_NAMES[this.corner]} corner `
      + `(the ${cornerEdges(this.corner)})`);
  }

  /** Move the edges of the chosen corner by (sx, sy) (fractions of the image): the box keeps at least one
   * screen pixel and stays inside the image; an edge never passes the one across from it. */
  resize(s, sx, sy) {
    const scale = this.viewer.view.scale;
    const least = { x: 1 / (scale * this.size.w), y: 1 / (scale * this.size.h) };
    if (sx) {
      const right = s.x + s.w;
      if (this.corner.includes("w")) {
        s.x = clamp(s.x + sx, 0, right - least.x);
        s.w = right - s.x;
      } else {
        s.w = clamp(s.w + sx, least.x, 1 - s.x);
      }
    }
    if (sy) {
      const bottom = s.y + s.h;
      if (this.corner.includes("n")) {
        s.y = clamp(s.y + sy, 0, bottom - least.y);
        s.h = bottom - s.y;
      } else {
        s.h = clamp(s.h + sy, least.y, 1 - s.y);
      }
    }
  }

  ownKey(event) {
    const s = this.selected;
    if (!s || !(event.key in MOVES) || !this.size.w) return false; // no box selected: the arrows pan
    const [dx, dy] = MOVES[event.key];
    const scale = this.viewer.view.scale;
    const sx = (dx * NUDGE_PX) / (scale * this.size.w);
    const sy = (dy * NUDGE_PX) / (scale * this.size.h);
    const how = event.shiftKey ? "resize" : "move";
    this.edit(`${how} ${this.shapeName(this.selectedIndex)}`, () => {
      if (event.shiftKey) {
        this.resize(s, sx, sy); // Shift: the chosen corner's edges move (the right and bottom ones at first)
      } else {
        s.x = clamp(s.x + sx, 0, 1 - s.w);
        s.y = clamp(s.y + sy, 0, 1 - s.h);
      }
    }, `${how} ${this.selectedIndex}`);
    this.draw(this.selectedIndex);
    this.changed();
    const name = this.shapeName(this.selectedIndex);
    const what = how === "move" ? `Moved ${name}` : `Resized ${name} from its ${CORNER_NAMES[this.corner]} corner`;
    this.note(`${what}: ${this.where(this.selectedIndex)}`);
    return true;
  }

  out(shape) {
    // Rounded to a millionth (well under a pixel), then kept inside the image.
    const x = clamp(round(shape.x, 6), 0, 1);
    const y = clamp(round(shape.y, 6), 0, 1);
    const row = { x, y, w: round(Math.min(shape.w, 1 - x), 6), h: round(Math.min(shape.h, 1 - y), 6) };
    return { ...row, ...Object.fromEntries(Object.entries(super.out(shape)).filter(([k]) => !(k in row))) };
  }
}

// --- segments on a clip -----------------------------------------------------------------------------------
const EDGE_STEP = 0.05; // seconds per [ ] { } ( ) press
const MIN_SEGMENT = 0.01;

export class SegmentEditor extends ShapeEditor {
  /** ``viewer``: the page's AudioViewer in segments mode (its wavesurfer and regions plugin).
   * ``options.duration``: the clip's length as the server measured it at import (its stats), if known. */
  constructor(viewer, options) {
    super({ kind: "segments", noun: ["segment", "segments"], ...options });
    this.fields = ["start", "end"];
    this.viewer = viewer;
    this.clipDuration = options?.duration || null;
    this.adding = false;
    this.marking = false; // a segment made with [ and ] is being added
    this.waiting = null; // the shapes shown once the clip is decoded
    this.token = 0;
    this.ready = viewer.ready.then(() => this.attach());
  }

  attach() {
    const regions = this.viewer.regions;
    if (!regions) return;
    regions.enableDragSelection({ color: rgba(this.colour(this.sticky), 0.25) });
    // The plugin starts a dragged region 5 px wide at the press and adds the drag to it: the segment then
    // ended 5 px past the mouse (0.18 s on a 30 s clip). It starts empty here, so it spans the drag.
    regions.on("region-initialized", (region) => {
      if (!this.adding && !this.marking) region.setOptions({ end: region.start });
    });
    regions.on("region-created", (region) => {
      if (this.adding) return;
      if (!this.marking && region.end - region.start < MIN_SEGMENT) {
        region.remove(); // a drag that spanned no time (straight up or down): no segment
        return;
      }
      if (!this.marking) region.setOptions({ start: region.start, end: region.end }); // a region again, no marker
      const before = this.snapshot();
      this.shapes.push({ start: region.start, end: region.end, label: this.sticky, region });
      this.record(`draw ${this.shapeName(this.shapes.length - 1)}`, before);
      this.select(this.shapes.length - 1);
    });
    regions.on("region-updated", (region) => {
      const index = this.shapes.findIndex((s) => s.region === region);
      if (index < 0) return;
      const s = this.shapes[index];
      const moved = Math.abs(region.end - region.start - (s.end - s.start)) < 1e-6;
      this.edit(`${moved ? "move" : "resize"} ${this.shapeName(index)}`, () => {
        Object.assign(s, { start: region.start, end: region.end });
      });
      this.select(index);
    });
    regions.on("region-clicked", (region) => {
      const index = this.shapes.findIndex((s) => s.region === region);
      if (index >= 0) this.select(index);
    });
  }

  // The clip's end: the server's duration when the page knows it, else the browser's. Browsers decode some
  // clips longer than the server measured them (Ogg/Vorbis: 2.136 s against 2.1196 s), and the server
  // checks segments against its own; a segment dragged to the waveform's end ends at the clip's end.
  get duration() { return this.clipDuration || this.viewer.wave?.getDuration() || 0; }

  /** The shown clip's length as the server measured it (null: unknown, the browser's is used). */
  setDuration(seconds) { this.clipDuration = seconds || null; }

  // The shapes of ``value`` once the clip is decoded (its regions need the waveform); until then none are
  // drawn, but they are what value() answers: a page's draft or decision taken meanwhile is of them, not
  // of no segments.
  async show(shapes) {
    this.markStart = null;
    const token = ++this.token;
    this.removeRegions();
    this.shapes = [];
    this.selectedIndex = -1;
    this.waiting = shapes;
    await this.ready;
    await this.viewer.loaded;
    if (token !== this.token || !this.viewer.regions) return;
    this.waiting = null;
    this.addRegions(shapes, -1);
  }

  value() {
    return this.waiting ? { segments: this.waiting.map((s) => this.out(s)) } : super.value();
  }

  describe() {
    if (!this.waiting) return super.describe();
    const n = this.waiting.length;
    return `${n || "no"} ${this.noun[n === 1 ? 0 : 1]} (drawn once the clip is loaded)`;
  }

  // A shape as data; before the clip is decoded, those waiting for it (undoing a copy made meanwhile goes
  // back to them).
  snapshot() {
    return this.waiting ? { shapes: this.waiting.map((s) => ({ ...s })), selected: -1 } : super.snapshot();
  }

  // Undo and redo: drawn at once once the clip is decoded, else when it is.
  restore({ shapes, selected }) {
    if (this.waiting) {
      this.show(shapes.map((s) => ({ ...s })));
      this.changed();
      return;
    }
    this.token++;
    this.removeRegions();
    this.shapes = [];
    this.selectedIndex = -1;
    if (this.viewer.regions) this.addRegions(shapes.map((s) => ({ ...s })), selected < shapes.length ? selected : -1);
    this.changed();
  }

  addRegions(shapes, selected) {
    this.adding = true;
    try {
      for (const shape of shapes) {
        shape.region = this.viewer.regions.addRegion({ start: shape.start, end: shape.end, color: rgba(this.colour(shape.label), 0.25) });
        this.shapes.push(shape);
      }
    } finally {
      this.adding = false;
    }
    this.selectedIndex = selected;
    for (let i = 0; i < this.shapes.length; i++) this.draw(i);
    this.changed();
  }

  // With no segment selected, [ and ] make one from the keyboard: [ marks its start at the playhead and ]
  // its end (play, or seek with the arrows, in between). It takes the class last chosen, as a drag does.
  markKey(event) {
    const at = this.viewer.audio.currentTime;
    if (event.key === "[") {
      this.markStart = at;
      this.note(`start at ${at.toFixed(2)} s: play or seek to its end, then press ]`);
      this.changed(); // the page keeps the start marked in its draft
      return true;
    }
    if (event.key !== "]" || this.markStart == null) return false;
    const start = Math.min(this.markStart, at);
    const end = Math.min(Math.max(this.markStart, at), this.duration || Infinity);
    this.markStart = null;
    if (end - start < EDGE_STEP || !this.viewer.regions) {
      this.note("the end is where the start is: seek, then press [ and ] again");
      this.changed();
      return true;
    }
    // The regions plugin answers region-created, which adds the segment as a drag's would (one undo step).
    this.marking = true;
    try {
      this.viewer.regions.addRegion({ start, end, color: rgba(this.colour(this.sticky), 0.25) });
    } finally {
      this.marking = false;
    }
    return true;
  }

  /** The start marked with [ and not yet ended with ], for the page's draft: {start, label} (seconds, the
   * class it will take), or null. */
  get pendingDraw() {
    return this.markStart == null ? null : { start: this.markStart, label: this.sticky };
  }

  /** Put back a start that a draft kept (a reload between [ and ]): ] then ends the segment there. Called
   * after load(); answers false for a draft it cannot read. */
  resumeDraw(pending) {
    if (!pending || !Number.isFinite(pending.start) || pending.start < 0) return false;
    this.stickTo(pending.label);
    this.markStart = pending.start;
    this.note(`The start you marked is back: ${pending.start.toFixed(2)} s; play or seek to its end, then press ] `
      + "(Esc forgets it)");
    this.changed();
    return true;
  }

  get unfinished() {
    return this.markStart == null ? ""
      : `A segment's start is marked at ${this.markStart.toFixed(2)} s: ] at the playhead ends it, Esc forgets it`;
  }

  /** What a page's draft note says of the start put back by resumeDraw. */
  get pendingNote() {
    return `the start you marked at ${this.markStart?.toFixed(2)} s: ] at the playhead ends the segment there, Esc forgets it`;
  }

  clear() {
    this.markStart = null;
    this.token++;
    this.waiting = null;
    this.removeRegions();
    this.shapes = [];
    this.selectedIndex = -1;
    this.forget();
  }

  removeRegions() {
    for (const shape of this.shapes) shape.region?.remove();
    this.viewer.regions?.clearRegions();
  }

  draw(index) {
    const s = this.shapes[index];
    if (!s?.region) return;
    const selected = index === this.selectedIndex;
    const flags = FLAGS.filter((f) => s[f]);
    s.region.setOptions({
      color: rgba(this.colour(s.label), selected ? 0.45 : 0.2),
      content: `${selected ? "▶ " : ""}${this.name(s.label)}${flags.length ? ` (${flags.join(", ")})` : ""}`,
    });
    s.region.element?.classList.toggle("selected", selected);
  }

  selectionChanged() {}

  remove(index) {
    this.record(`delete ${this.shapeName(index)}`, this.snapshot());
    const [shape] = this.shapes.splice(index, 1);
    shape?.region?.remove();
    this.selectedIndex = -1;
    this.changed();
  }

  setEdges(s, start, end) {
    const duration = this.duration || s.end;
    s.start = clamp(start, 0, Math.max(0, end - MIN_SEGMENT));
    s.end = clamp(end, s.start + MIN_SEGMENT, duration);
    s.region?.setOptions({ start: s.start, end: s.end });
    this.draw(this.selectedIndex);
    this.changed();
  }

  key(event) {
    // Esc with no segment selected forgets a start marked with [ (else it is the page's).
    if (event.key === "Escape" && !this.selected && this.markStart != null) {
      this.markStart = null;
      this.note("Forgot the start marked");
      this.changed();
      return true;
    }
    return super.key(event);
  }

  ownKey(event) {
    const s = this.selected;
    if (!s) return this.markKey(event);
    const index = this.selectedIndex;
    const edge = (side, start, end) => this.edit(`move ${this.shapeName(index)}'s ${side}`, () => this.setEdges(s, start, end), `${side} ${index}`);
    switch (event.key) {
      case "[": edge("start", s.start - EDGE_STEP, s.end); return true;
      case "]": edge("start", s.start + EDGE_STEP, s.end); return true;
      case "{": edge("end", s.start, s.end - EDGE_STEP); return true;
      case "}": edge("end", s.start, s.end + EDGE_STEP); return true;
      case "(": case ")": {
        // The whole segment, its length kept, no farther than the clip's start or end.
        const step = clamp(event.key === "(" ? -EDGE_STEP : EDGE_STEP, -s.start, (this.duration || s.end) - s.end);
        if (step) this.edit(`move ${this.shapeName(index)}`, () => this.setEdges(s, s.start + step, s.end + step), `move ${index}`);
        return true;
      }
      case "p": case "P": s.region?.play(true); return true;
      default: return false;
    }
  }

  out(shape) {
    let start = Math.max(0, round(shape.start, 3));
    let end = round(shape.end, 3);
    // Not rounded up past the clip: 2.1196 s stays 2.1196 s, not 2.12 s.
    if (this.duration) end = Math.min(end, this.duration);
    if (start >= end) start = Math.max(0, round(end - MIN_SEGMENT, 3)); // drawn wholly past the clip's end
    return { start, end, ...Object.fromEntries(Object.entries(super.out(shape)).filter(([k]) => !["start", "end"].includes(k))) };
  }
}
