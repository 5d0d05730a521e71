// What a review page says as it moves on ("Decision recorded on item #N."), said on the page that follows:
// written into the status region just before the move, it went with the page and a screen reader never read
// it. Kept in this tab's sessionStorage for the next page, which says it once it has settled.
const KEY = "labelhub.review.said";
const FRESH_MS = 60_000; // a note left behind by a page closed mid-move is not said on a later visit

function storage() {
  try { return window.sessionStorage; } catch { return null; } // storage can be switched off
}

/** Keep ``text`` to be said by the next review page (the next item's, or the queue). */
export function sayOnNextPage(text) {
  try { storage()?.setItem(KEY, JSON.stringify({ text, at: Date.now() })); } catch { /* full: not said */ }
}

/** Say in ``region`` (a status region the page came with, empty) what the page before it kept for it. */
export function sayWhatWasKept(region) {
  const store = storage();
  let kept = null;
  try { kept = JSON.parse(store?.getItem(KEY) ?? "null"); } catch { /* not ours */ }
  store?.removeItem(KEY);
  if (!region || !kept?.text || !(Date.now() - kept.at < FRESH_MS)) return;
  // After the page has settled: words there as the page loads are often not read out.
  setTimeout(() => { if (!region.textContent) region.textContent = kept.text; }, 250);
}
