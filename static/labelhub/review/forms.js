// Small forms of the consistency pages, all posting JSON to the API and showing its answer.
import { sendJSON } from "../session.js";

// What the user typed stays on the page when a post fails (a sign-in in another tab, a server failure).
export const send = (url, body, method = "POST") => sendJSON(url, body, { method, what: "Your change is" });
const say = (el, text, bad = false) => {
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("error", bad);
};

const guideline = document.getElementById("guideline-form");
guideline?.addEventListener("submit", async (e) => {
  e.preventDefault();
  // The reviewers' open questions the new text answers (ticked in the form) leave the open questions.
  const resolves = [...guideline.querySelectorAll("input[name=resolves]:checked")].map((box) => Number(box.value));
  const { ok, data } = await send(guideline.dataset.url, { text: guideline.text.value, resolves });
  if (!ok) return say(document.getElementById("publish-status"), data.detail, true);
  location.href = `?version=${data.version}&diff=${data.version - 1}`;
});

const example = document.getElementById("example-form");
example?.addEventListener("submit", async (e) => {
  e.preventDefault();
  // Detection / segments examples have no class field: the server takes the item's decided or consensus shapes.
  const body = { item: Number(example.item.value), note: example.note.value };
  if (example.label) body.label = example.label.value;
  const { ok, data } = await send(example.dataset.url, body);
  if (!ok) return say(document.getElementById("example-status"), data.detail, true);
  location.reload();
});

// Taxonomy: preview before applying; undo.
const taxonomy = document.getElementById("taxonomy-form");
function taxonomyBody() {
  const op = taxonomy.op.value;
  const body = { op, reason: taxonomy.reason.value };
  if (op === "merge") {
    body.classes = taxonomy.classes.value.split(",").map((s) => s.trim()).filter(Boolean);
    body.into = taxonomy.into.value.trim();
    body.name = taxonomy.new_name.value.trim() || undefined;
  } else if (op === "rename") {
    body.key = taxonomy.key.value.trim();
    body.new_key = taxonomy.into.value.trim() || body.key;
    body.new_name = taxonomy.new_name.value.trim() || undefined;
  } else {
    body.key = taxonomy.key.value.trim();
    body.name = taxonomy.new_name.value.trim() || undefined;
  }
  return body;
}
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)} %`);
document.getElementById("taxonomy-preview")?.addEventListener("click", async () => {
  const { ok, data } = await send(`${taxonomy.dataset.url}?preview=1`, taxonomyBody());
  const box = document.getElementById("taxonomy-result");
  if (!ok) return say(box, data.detail, true);
  if (data.metric === "box_f1" || data.metric === "segment_f1") {
    const f1 = (v) => (v === null || v === undefined ? "—" : v.toFixed(3));
    const name = data.metric === "box_f1" ? "Box F1" : "Segment F1";
    return say(box, `${name} ${f1(data.before.agreement)} → ${f1(data.after.agreement)} (${data.gain >= 0 ? "+" : ""}${f1(data.gain)})`);
  }
  say(box, `Percent agreement ${pct(data.before.percent_agreement)} → ${pct(data.after.percent_agreement)} (${data.gain >= 0 ? "+" : ""}${pct(data.gain)}); α ${data.before.krippendorff_alpha?.toFixed(3) ?? "—"} → ${data.after.krippendorff_alpha?.toFixed(3) ?? "—"}`);
});
taxonomy?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ok, data } = await send(taxonomy.dataset.url, taxonomyBody());
  if (!ok) return say(document.getElementById("taxonomy-result"), data.detail, true);
  location.reload();
});
document.querySelectorAll("[data-use-suggestion]").forEach((button) =>
  button.addEventListener("click", () => {
    const [a, b] = button.dataset.useSuggestion.split(",");
    taxonomy.op.value = "merge";
    taxonomy.classes.value = `${a},${b}`;
    taxonomy.into.value = `${a}-or-${b}`;
    taxonomy.reason.value = button.dataset.reason;
    document.getElementById("taxonomy-preview").click();
  }));
document.querySelectorAll("[data-undo]").forEach((button) =>
  button.addEventListener("click", async () => {
    const { ok, data } = await send(button.dataset.undo);
    if (!ok) return alert(data.detail);
    location.reload();
  }));

// Transcript conventions: preview, then save.
const conventions = document.getElementById("conventions-form");
// "from => to" lines as [from, to] pairs, split at the first "=>". A tag line without one is refused
// (it was dropped without a word); a rule line without one removes what it matches.
function conventionPairs(text, what, { needArrow }) {
  const pairs = [];
  for (const line of text.split("\n").map((x) => x.trim()).filter(Boolean)) {
    const at = line.indexOf("=>");
    if (at < 0 && needArrow) throw new Error(`${what}: '${line}' has no '=>'; write it as ${what === "Tags" ? "[inaudible] => [unintelligible]" : "pattern => replacement"}`);
    pairs.push(at < 0 ? [line, ""] : [line.slice(0, at).trim(), line.slice(at + 2).trim()]);
  }
  return pairs;
}
function conventionsBody() {
  return {
    rules: {
      fillers: conventions.fillers.value.split(",").map((s) => s.trim()).filter(Boolean),
      filler_as: conventions.filler_as.value.trim(),
      tags: Object.fromEntries(conventionPairs(conventions.tags.value, "Tags", { needArrow: true })),
      lowercase: conventions.lowercase.checked,
      strip_punctuation: conventions.strip_punctuation.checked,
      collapse_spaces: conventions.collapse_spaces.checked,
      rules: conventionPairs(conventions.rules.value, "Extra rules", { needArrow: false }),
    },
  };
}
// The body, or null once the problem with the form is shown.
function conventionsBodyOrSay() {
  try {
    return conventionsBody();
  } catch (error) {
    say(document.getElementById("conventions-result"), error.message, true);
    return null;
  }
}
document.getElementById("conventions-preview")?.addEventListener("click", async () => {
  const body = conventionsBodyOrSay();
  if (!body) return;
  const { ok, data } = await send(`${conventions.dataset.url}?preview=1`, body, "PUT");
  const box = document.getElementById("conventions-result");
  if (!ok) return say(box, data.detail, true);
  say(box, `${data.answers_changed} of ${data.answers} answers change; ${data.pairs_made_equal} of ${data.pairs_disagreeing} disagreeing pairs become equal.`);
  // Transcripts are labelers' text ("<laugh> yes" too): shown as text, never parsed as HTML.
  document.getElementById("conventions-examples").replaceChildren(...data.examples.map((x) => {
    const li = document.createElement("li");
    const before = document.createElement("s");
    const after = document.createElement("b");
    before.textContent = x.before;
    after.textContent = x.after;
    li.append(before, " → ", after);
    return li;
  }));
});
conventions?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = conventionsBodyOrSay();
  if (!body) return;
  const { ok, data } = await send(conventions.dataset.url, body, "PUT");
  if (!ok) return say(document.getElementById("conventions-result"), data.detail, true);
  location.reload();
});

// Campaigns.
const campaign = document.getElementById("campaign-form");
campaign?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { name: campaign.name.value, overlap: campaign.overlap.value ? Number(campaign.overlap.value) : undefined,
    guideline: campaign.guideline.value ? Number(campaign.guideline.value) : undefined };
  // Ids as the pages show them ("#108", chips copied together as "#22#28") or bare; a word is named
  // here (Number() sent it as null, refused as "items: 0: This field may not be null.").
  const ids = campaign.items.value.split(/[\s,#]+/).filter(Boolean);
  const unread = ids.find((id) => !/^\d+$/.test(id));
  if (unread !== undefined) {
    return say(document.getElementById("campaign-result"), `'${unread}' is not an item id: give the items' numbers, e.g. 1204, 1207 or #1204 #1207.`, true);
  }
  // The filters narrow the ids when both are given (they were dropped beside ids), as the API reads them.
  const filter = {};
  for (const key of ["class", "tag", "labeler"]) if (campaign[key].value) filter[key] = campaign[key].value;
  if (campaign.disagreement.checked) filter.disagreement = true;
  // the items a labeler's skip holds on: after the guideline or the data was fixed, sent back to them
  if (campaign.skipped.checked) filter.skipped = true;
  if (ids.length) body.items = ids.map(Number);
  if (Object.keys(filter).length || !ids.length) body.filter = filter;
  const { ok, data } = await send(campaign.dataset.url, body);
  if (!ok) return say(document.getElementById("campaign-result"), data.detail, true);
  location.href = `${location.pathname}${data.id}/`;
});
document.querySelectorAll("[data-finish]").forEach((button) =>
  button.addEventListener("click", async () => {
    const { ok, data } = await send(button.dataset.finish);
    if (!ok) return alert(data.detail);
    location.reload();
  }));
