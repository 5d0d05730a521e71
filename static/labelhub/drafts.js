// Drafts: what a user has begun on a page and not sent, kept in this tab's sessionStorage so that a reload,
// a trip back in history or a second visit in the same tab puts it back. The labeling page keeps the answer
// begun on the queue's item (labeling/label.js) and the class that sticks for the next shape; the review
// pages keep the SME's decision begun on each item (review/review.js, review/shapes_review.js).
//
// A draft is its user's own: its key ends with the username and its record names the user, so another user
// signed in in this tab never reads it, and dropOthersDrafts() removes every draft of anyone else when a
// page opens. A draft names its item, and is only ever given back for that item. Nothing here sends
// anything: a draft is put back on the page, and the user sends it.

const PREFIX = "labelhub.";
// The kinds of draft this tab may hold: the labeling page's answer, the class that sticks for the next
// shape, the review pages' decisions.
const KINDS = ["draft.", "next.", "review."];
const REVIEW_DRAFTS_KEPT = 50; // per project and user: older ones go first (sessionStorage is small)

function storage() {
  try { return window.sessionStorage; } catch { return null; } // storage can be switched off
}

/** One draft of one user: ``name`` says whose page and what ("draft.<project>" for the labeling page's,
 * "review.<project>.<item>" for a review page's). */
export class DraftSlot {
  constructor(name, user) {
    this.user = user;
    this.key = `${PREFIX}${name}.${user}`;
  }

  /** The record kept, or null (none, unreadable, or someone else's). */
  read() {
    try {
      const record = JSON.parse(storage()?.getItem(this.key) ?? "null");
      if (!record || typeof record !== "object") return null;
      return record.user === undefined || record.user === this.user ? record : null;
    } catch {
      return null;
    }
  }

  /** Keep ``fields`` as the draft of ``item`` (null: a draft of no item, such as the sticky class). A full
   * storage makes room by forgetting this user's oldest other drafts, one at a time, until it fits: the
   * work in hand matters more than a decision begun long ago and left (a tab full of review drafts of dense
   * scenes kept no new draft at all, and a reload lost the answer in hand without a word). */
  save(item, fields) {
    const record = JSON.stringify({ ...fields, item, user: this.user, saved: Date.now() });
    for (;;) {
      try {
        storage()?.setItem(this.key, record);
        return;
      } catch (error) {
        // what is on the page is unaffected; only a full storage is worth making room in
        if (!isFull(error) || !dropOldestDraft(this.user, this.key)) return;
      }
    }
  }

  /** The draft of ``item``, or null: one of another item is never given back. */
  take(item) {
    const record = this.read();
    return record && record.item === item ? record : null;
  }

  /** Forget the draft (of ``item`` only, when given). */
  drop(item) {
    if (item !== undefined && !this.take(item)) return;
    try { storage()?.removeItem(this.key); } catch { /* storage switched off */ }
  }
}

/** Remove every draft in this tab that is not ``user``'s: someone else signed in in this tab never sees
 * them. */
export function dropOthersDrafts(user) {
  const store = storage();
  if (!store) return;
  for (const key of Object.keys(store)) {
    if (KINDS.some((kind) => key.startsWith(PREFIX + kind)) && !key.endsWith(`.${user}`)) store.removeItem(key);
  }
}

// (Firefox named it NS_ERROR_DOM_QUOTA_REACHED, code 1014, until version 99)
const isFull = (error) => error?.name === "QuotaExceededError" || error?.code === 22 || error?.code === 1014;

/** Forget the oldest draft of ``user`` but ``keep`` (a key); false when there is none to forget. */
function dropOldestDraft(user, keep) {
  const store = storage();
  if (!store) return false;
  let oldest = null;
  let oldestSaved = Infinity;
  for (const key of Object.keys(store)) {
    if (key === keep || !key.endsWith(`.${user}`) || !KINDS.some((kind) => key.startsWith(PREFIX + kind))) continue;
    let saved = 0;
    try { saved = Number(JSON.parse(store.getItem(key)).saved) || 0; } catch { /* unreadable: oldest */ }
    if (saved < oldestSaved) [oldest, oldestSaved] = [key, saved];
  }
  if (oldest === null) return false;
  store.removeItem(oldest);
  return true;
}

/** Keep at most REVIEW_DRAFTS_KEPT review drafts of ``project`` for ``user``: the oldest go. */
export function pruneReviewDrafts(project, user) {
  const store = storage();
  if (!store) return;
  const prefix = `${PREFIX}review.${project}.`;
  const mine = Object.keys(store).filter((key) => key.startsWith(prefix) && key.endsWith(`.${user}`));
  if (mine.length <= REVIEW_DRAFTS_KEPT) return;
  const saved = (key) => { try { return JSON.parse(store.getItem(key)).saved || 0; } catch { return 0; } };
  mine.sort((a, b) => saved(a) - saved(b));
  for (const key of mine.slice(0, mine.length - REVIEW_DRAFTS_KEPT)) store.removeItem(key);
}

/** A form's fields as data: text fields' values, checkboxes' states, the radio buttons' choices (by name;
 * the CSRF token left out). */
export function readForm(form) {
  const fields = {};
  for (const el of form.elements) {
    if (!el.name || el.name === "csrfmiddlewaretoken") continue;
    if (el.type === "checkbox") fields[el.name] = el.checked;
    else if (el.type === "radio") { if (el.checked) fields[el.name] = el.value; }
    else if (el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && ["text", ""].includes(el.type))) {
      fields[el.name] = el.value;
    }
  }
  return fields;
}

/** Put ``fields`` (as readForm gives them) back into the form; fields it does not have stay as they are. */
export function fillForm(form, fields) {
  for (const el of form.elements) {
    if (!el.name || !Object.hasOwn(fields, el.name)) continue;
    const value = fields[el.name];
    if (el.type === "checkbox") el.checked = Boolean(value);
    else if (el.type === "radio") el.checked = el.value === value;
    else if ("value" in el && typeof value === "string" && el.name !== "csrfmiddlewaretoken") el.value = value;
  }
}

/** The line that says a draft is back, with a button that discards it: ``line`` gets ``text`` and the
 * button (data-draft-discard; keyboard pages leave its Enter and Space to it). */
export function announceDraft(line, text, onDiscard) {
  const discard = Object.assign(document.createElement("button"), {
    type: "button", className: "small", textContent: "Discard it",
  });
  discard.dataset.draftDiscard = "";
  discard.addEventListener("click", onDiscard);
  line.replaceChildren(`${text} `, discard);
}

/** What a review page's status line says of a decision put back from the draft: ``kept`` and ``now`` are
 * the latest decisions the page showed then and shows now. */
export function reviewDraftNote(kept, now) {
  const since = (kept ?? null) !== (now ?? null)
    ? " A decision was recorded on this item since (see above): recording yours puts it over that one." : "";
  return `Your decision on this item, not recorded yet, is back as you left it; nothing is sent until you record it.${since}`;
}

/** The draft of a page that works on one item (the review pages): kept whenever the page's state differs
 * from the state it opened with, put back when the page opens on the same item again, dropped once the
 * work is sent (or given up on purpose). ``snapshot()`` gives the page's state as data; ``apply(state)``
 * puts such a state on the page (it may answer a promise). */
export class ItemDraft {
  constructor({ name, user, item, snapshot, apply, extra = () => ({}) }) {
    this.slot = new DraftSlot(name, user);
    this.item = item;
    this.snapshot = snapshot;
    this.apply = apply;
    this.extra = extra; // fields kept beside the state (the decision the page showed)
    this.initial = null;
    this.quiet = true; // until start(), and while a state is being put on the page
    this.closed = false;
  }

  /** Take the page's state as it opened (nothing of it is a draft) and put back the draft of its item, if
   * any: answers that draft's record (state and extra fields), or null. Called as the page opens, before it
   * takes any input: a change made before is taken as the page's own, never kept, and one made while a
   * draft is still being put back is undone by it (until start() is done, save() keeps nothing). */
  async start() {
    this.initial = this.snapshot();
    const kept = this.slot.take(this.item);
    if (kept?.state) await this.put(kept.state);
    this.quiet = false;
    return kept?.state ? kept : null;
  }

  async put(state) {
    this.quiet = true;
    try {
      await this.apply(state);
    } finally {
      this.quiet = false;
    }
  }

  /** Keep the page's state now (a change, a pagehide); a state the page opened with is no draft. */
  save() {
    if (this.quiet || this.closed) return;
    const state = this.snapshot();
    if (JSON.stringify(state) === JSON.stringify(this.initial)) this.slot.drop();
    else this.slot.save(this.item, { ...this.extra(), state });
  }

  /** Put the page back as it opened and forget the draft. */
  async discard() {
    await this.put(this.initial);
    this.slot.drop();
  }

  /** The work is sent (or given up on purpose): forget the draft, and keep none from now on (the page is
   * being left). */
  close() {
    this.closed = true;
    this.slot.drop();
  }

  /** Keep drafts again (leaving the page was refused or failed). */
  reopen() {
    this.closed = false;
  }
}
