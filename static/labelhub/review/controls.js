// Enter on the review pages records the decision, but a focused button or link keeps its own Enter, as
// anywhere on the web: a class, Skip, a zoom button or the draft's Discard reached with Tab does what it
// says, never records in its place. Only the record button's Enter, or Enter with no control focused,
// records. A button or link clicked with the mouse gives the focus back (as buttons do on the labeling page),
// so the SME who clicks a class and then presses Enter records that class instead of pressing the class
// again, and one who clicks Skip while a box is being drawn (refused) makes the box with Enter, then
// records, instead of skipping.

/** True when the focused control keeps this Enter (any button or link but ``record``, the record button):
 * the page's own keys leave it to the browser. */
export function keepsEnter(event, record) {
  if (event.key !== "Enter") return false;
  const control = event.target.closest?.("button, a[href]");
  return Boolean(control) && control !== record;
}

/** A button or link clicked with the mouse (not pressed from the keyboard) gives the focus back to the
 * page. */
export function mouseClicksGiveFocusBack() {
  document.addEventListener("click", (event) => {
    const control = event.target.closest?.("button, a[href]");
    if (control && event.detail > 0) control.blur();
  });
}
