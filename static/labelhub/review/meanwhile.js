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

export function decidedMeanwhile(decision) {
  const me = document.body.dataset.user;
  const who = decision.reviewer === me ? "You (in another tab)" : decision.reviewer ?? "A reviewer whose account is gone";
  const when = new Date(decision.created).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const why = decision.rationale ? ` — “${decision.rationale}”` : "";
  return `${who} decided this item meanwhile, at ${when}: ${what(decision)}${why}. Yours is not recorded yet: `
    + "record it again (Enter) to put it over theirs, or skip the item.";
}
