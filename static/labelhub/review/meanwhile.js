// What the review pages say when another reviewer decided the item after the page was opened (the
// decision API's 409): who, when and what, and that sending again records this reviewer's decision over it.
const ACTIONS = {
  ambiguous_instructions: "instructions ambiguous",
  input_insufficient: "the input lacks the information",
  relabel: "sent back for relabeling",
  withdrawn: "the decision in force withdrawn (the item undecided again)",
};

// One decided shape reads "1 box", "1 segment" (it read "1 boxes"), as the page's banner says it.
const ONE_SHAPE = { boxes: "box", segments: "segment" };

// The API answers the class key; the page reads it by the name its class buttons show (a transcript as it is).
function labelName(label) {
  const button = document.querySelector(`.class-button[data-label="${CSS.escape(label)}"]`);
  return button?.dataset.name || label;
}

function what(decision) {
  if (decision.action !== "label") return ACTIONS[decision.action] ?? decision.action;
  const shapes = decision.value && Object.entries(decision.value)[0];
  let text = shapes ? `${shapes[1].length} ${shapes[1].length === 1 ? ONE_SHAPE[shapes[0]] ?? shapes[0] : shapes[0]}` : decision.label ? `“${labelName(decision.label)}”` : "no label";
  const flags = ["borderline", "uncertain", "out_of_domain", "gold"].filter((f) => decision[f]);
  if (flags.length) text += ` (${flags.map((f) => f.replace(/_/g, " ")).join(", ")})`;
  return text;
}

/** What the status line says of ``decision``, recorded by another since the page opened (a 409 answered to
 * the decision ``form``). A withdrawal met by another's withdrawal cannot be sent again (the item has no
 * decision left to withdraw): the page offers it no more, and deciding the label is checked instead. */
export function decidedMeanwhile(decision, form) {
  const me = document.body.dataset.user;
  const who = decision.reviewer === me ? "You (in another tab)" : decision.reviewer ?? "A reviewer whose account is gone";
  const when = new Date(decision.created).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const why = decision.rationale ? ` — “${decision.rationale}”` : "";
  if (decision.action === "withdrawn" && form?.querySelector("input[name=action][value=withdrawn]:checked")) {
    offerNoWithdrawal(form);
    return `${who} withdrew this item's decision meanwhile, at ${when}${why}. Nothing is left to withdraw: `
      + "decide the item, or skip it.";
  }
  return `${who} decided this item meanwhile, at ${when}: ${what(decision)}${why}. Yours is not recorded yet: `
    + "record it again (Enter) to put it over theirs, or skip the item.";
}

function offerNoWithdrawal(form) {
  form.querySelector("input[name=action][value=withdrawn]")?.closest("label")?.remove();
  form.querySelector("input[name=action][value=label]").checked = true;
}

/** After a draft is put back on ``form``: a withdrawal kept in it, of a decision withdrawn since, finds no
 * withdrawal offered (the page checked no action, and Enter failed on it). Deciding the label is checked
 * instead; answers what the status line adds to say so, or "". */
export function draftWithdrawalGone(form) {
  if (form.querySelector("input[name=action]:checked")) return "";
  offerNoWithdrawal(form);
  return " The decision you were withdrawing is withdrawn already: nothing is left to withdraw.";
}

/** What the review pages say once a withdrawal of ``item``'s decision is recorded (the next page says it too). */
export const withdrawnSaid = (item) => `Decision withdrawn on item #${item}: it is undecided again.`;
