// Drafts: what a user has begun on a page and not sent, kept in this tab's sessionStorage so that a reload,
// a trip back in history or a second visit in the same tab puts it back. The labeling page keeps the answer
// begun on the queue's item (labeling/label.js) and the class that sticks for the next shape.
//
// A draft is its user's own: its key ends with the username and its record names the user, so another user
// signed in in this tab never reads it, and dropOthersDrafts() removes every draft of anyone else when a
// page opens. A draft names its item, and is only ever given back for that item. Nothing here sends
// anything: a draft is put back on the page, and the user sends it.

const PREFIX = "labelhub.";
// The kinds of draft this tab may hold: the labeling page's answer, the class that sticks for the next
// shape.
const KINDS = ["draft.", "next."];

function storage() {
  try { return window.sessionStorage; } catch { return null; } // storage can be switched off
}

/** One draft of one user: ``name`` says whose page and what ("draft.<project>" for the labeling page's
 * answer, "next.<project>" for its next class). */
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

  /** Keep ``fields`` as the draft of ``item`` (null: a draft of no item, such as the sticky class). */
  save(item, fields) {
    try {
      storage()?.setItem(this.key, JSON.stringify({ ...fields, item, user: this.user, saved: Date.now() }));
    } catch {
      // a full storage keeps no draft; what is on the page is unaffected
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
