// The review queue: Enter opens the first item (the review page then moves through the list), unless focus
// is in the filters or on a button or link reached with Tab (a tab, another row's Review, the pager), which
// keeps its own Enter as on the review pages.
import { keepsEnter } from "./controls.js";
import { sayWhatWasKept } from "./said.js";

sayWhatWasKept(document.getElementById("queue-status")); // "Decision recorded…" from the last item's page

const first = document.querySelector("#review-queue tbody a.button");
document.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || !first || e.target.closest("form") || keepsEnter(e, null)) return;
  first.click();
});
