// Where the words written over boxes go (a final box's class name, a labeler's layer number on the review
// page): each tag takes the first of its spots, in its order of preference, that lies inside the image and
// clear of every tag placed before it. Boxes that share an edge or a corner put their tags on one spot (the
// name over a box at the image's top edge went inside it, onto the layer numbers; two narrow boxes side by
// side wrote their names across each other): the later tag then shifts along the box's edge, stacks a row
// further, or goes to another corner, inside the box when it has room for it, outside when not. A tag with
// no free spot left is not shown (the summary and the layers' legend still say it in words).
// Sizes are screen pixels, whatever the zoom: the tag is as large on the screen at any scale.

const GAP_PX = 2; // between a tag and the edge of its box, and between two rows of tags
const INSET_PX = 3; // from a box's side to a tag written along it
const ROWS = 3; // rows a tag may stack away from its box's edge before it tries the next corner
const APART_PX = 2; // between two tags' halos: "Iguana" and "1 2 0" read as two words, never one
const SNAP_PX = 8; // layer numbers of boxes whose top-right corners lie this close share their columns

const widths = new Map();
let context = null;

/** The width and the font's ascent and descent of ``text`` at ``px`` pixels (cached: tags are redrawn on
 * every move of a dragged box). */
function measure(text, px, weight, family) {
  const font = `${weight} ${px}px ${family}`;
  const key = `${font}\n${text}`;
  let size = widths.get(key);
  if (!size) {
    context ??= document.createElement("canvas").getContext("2d");
    context.font = font;
    const m = context.measureText(text);
    const ascent = m.fontBoundingBoxAscent ?? px * 0.93;
    const descent = m.fontBoundingBoxDescent ?? px * 0.24;
    size = { w: m.width, ascent, descent };
    widths.set(key, size);
  }
  return size;
}

const clear = (a, b) => a.r + APART_PX <= b.l || b.r + APART_PX <= a.l || a.b + APART_PX <= b.t || b.b + APART_PX <= a.t;

/** The spots of a tag ``w`` by ``h`` on box ``box`` (screen pixels from the image's origin: l, t, r, b), best
 * first. ``kind`` "name": over the top-left corner, else inside it, then under the bottom-left corner, inside
 * it, and the same on the right. "layer": inside the top-right corner, ``slot`` steps of ``step`` to the left
 * (1 2 3 0 over one iguana), else another step along that row, then the rows below it, the rows up from
 * the bottom-right corner, then outside the box. */
function* spots({ kind, slot = 0, step }, box, w, h) {
  const room = box.r - box.l >= w + 2 * INSET_PX && box.b - box.t >= h + 2 * GAP_PX; // it fits inside
  const left = box.l + INSET_PX;
  const right = box.r - INSET_PX - w;
  const above = (row) => box.t - GAP_PX - h - row * (h + GAP_PX);
  const below = (row) => box.b + GAP_PX + row * (h + GAP_PX);
  const topIn = (row) => box.t + GAP_PX + row * (h + GAP_PX);
  const bottomIn = (row) => box.b - GAP_PX - h - row * (h + GAP_PX);
  const inside = (y) => y >= box.t && y + h <= box.b;
  if (kind === "layer") {
    // Its own step, then further left, then back to the right: a number pushed aside keeps left of the
    // numbers placed after it (1 2 / 0 in a narrow box, never 2 1).
    const slots = [...Array.from({ length: 4 }, (_, k) => slot + k), ...Array.from({ length: slot }, (_, k) => slot - 1 - k)];
    const rows = Array.from({ length: ROWS }, (_, row) => row);
    for (const y of [...rows.map(topIn), ...rows.map(bottomIn)]) {
      if (!room || !inside(y)) continue;
      for (const k of slots) {
        const x = right - k * step;
        if (x >= left) yield { x, y };
      }
    }
    for (let row = 0; row < ROWS; row++) {
      for (const k of slots) yield { x: box.r + GAP_PX + k * step, y: topIn(row) }; // beside its right side
      for (const k of slots) yield { x: right - k * step, y: above(row) };
      for (const k of slots) yield { x: right - k * step, y: below(row) };
    }
    return;
  }
  for (let row = 0; row < ROWS; row++) {
    yield { x: left, y: above(row) };
    if (room && inside(topIn(row))) yield { x: left, y: topIn(row) };
  }
  for (let row = 0; row < ROWS; row++) {
    yield { x: left, y: below(row) };
    if (room && inside(bottomIn(row))) yield { x: left, y: bottomIn(row) };
  }
  for (let row = 0; row < ROWS; row++) {
    yield { x: box.r - INSET_PX - w, y: above(row) };
    yield { x: box.r - INSET_PX - w, y: below(row) };
    yield { x: box.r + GAP_PX, y: topIn(row) }; // beside its right side
    yield { x: box.l - GAP_PX - w, y: topIn(row) }; // beside its left side
  }
}

/** Boxes of several layers drawn on one spot differ by a few pixels: their numbers take the same columns and
 * rows (from the leftmost right side and the lowest top among them, inside each box), so a number pushed
 * aside by a name pushes the others alike and 1 stays left of 2. Answers a Map: layer tag -> {r, t}. */
function sharedCorners(tags, scale) {
  const groups = [];
  for (const tag of tags) {
    if (tag.kind !== "layer" || tag.hidden) continue;
    const r = (tag.box.x + tag.box.w) * scale;
    const t = tag.box.y * scale;
    let group = groups.find((g) => Math.abs(g.r0 - r) <= SNAP_PX && Math.abs(g.t0 - t) <= SNAP_PX);
    if (!group) groups.push((group = { r0: r, t0: t, r, t, tags: [] }));
    group.r = Math.min(group.r, r);
    group.t = Math.max(group.t, t);
    group.tags.push(tag);
  }
  return new Map(groups.flatMap((g) => g.tags.map((tag) => [tag, { r: g.r, t: g.t }])));
}

/** Place ``tags`` over an image of ``width`` by ``height`` pixels shown at ``scale`` (screen pixels per image
 * pixel). Each tag: {el (an SVG <text> in a group drawn in image pixels), text, box: {x, y, w, h} in image
 * pixels, kind: "name" | "layer", slot and step (screen pixels) for a layer, px (its font size on the
 * screen), weight, hidden (true: not written, and taking no room: a box too narrow on the screen)}. Earlier
 * tags choose first. Sets each el's text, position and size, in image pixels. */
export function layOutTags(tags, { width, height, scale, family }) {
  const placed = [];
  const bounds = { l: 0, t: 0, r: width * scale, b: height * scale };
  const corners = sharedCorners(tags, scale);
  for (const tag of tags) {
    const { el } = tag;
    el.textContent = tag.text;
    el.setAttribute("font-size", tag.px / scale);
    el.setAttribute("stroke-width", 2.5 / scale);
    el.removeAttribute("text-anchor");
    const { w, ascent, descent } = measure(tag.text, tag.px, tag.weight, family);
    const h = ascent + descent;
    const box = { l: tag.box.x * scale, t: tag.box.y * scale, r: (tag.box.x + tag.box.w) * scale, b: (tag.box.y + tag.box.h) * scale };
    if (corners.has(tag)) Object.assign(box, corners.get(tag));
    let spot = null;
    if (!tag.hidden) {
      for (const s of spots(tag, box, w + 2, h)) { // + 2: the halo's stroke on either side
        const rect = { l: s.x, t: s.y, r: s.x + w + 2, b: s.y + h };
        const within = rect.l >= bounds.l && rect.t >= bounds.t && rect.r <= bounds.r && rect.b <= bounds.b;
        if (within && placed.every((other) => clear(rect, other))) {
          spot = s;
          placed.push(rect);
          break;
        }
      }
    }
    el.style.display = spot ? "" : "none";
    if (!spot) continue;
    el.setAttribute("x", (spot.x + 1) / scale);
    el.setAttribute("y", (spot.y + ascent) / scale);
  }
}
