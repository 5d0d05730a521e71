// Small forms of the consistency pages, all posting JSON to the API and showing its answer.
const csrf = () => document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
export async function send(url, body, method = "POST") {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}
const say = (el, text, bad = false) => {
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("error", bad);
};

const guideline = document.getElementById("guideline-form");
guideline?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ok, data } = await send(guideline.dataset.url, { text: guideline.text.value });
  if (!ok) return say(document.getElementById("publish-status"), data.detail, true);
  location.href = `?version=${data.version}&diff=${data.version - 1}`;
});

const example = document.getElementById("example-form");
example?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ok, data } = await send(example.dataset.url, {
    item: Number(example.item.value), label: example.label.value, note: example.note.value,
  });
  if (!ok) return alert(data.detail);
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
function conventionsBody() {
  const lines = (s) => s.split("\n").map((x) => x.trim()).filter(Boolean);
  return {
    rules: {
      fillers: conventions.fillers.value.split(",").map((s) => s.trim()).filter(Boolean),
      filler_as: conventions.filler_as.value.trim(),
      tags: Object.fromEntries(lines(conventions.tags.value).map((l) => l.split("=>").map((s) => s.trim()))),
      lowercase: conventions.lowercase.checked,
      strip_punctuation: conventions.strip_punctuation.checked,
      collapse_spaces: conventions.collapse_spaces.checked,
      rules: lines(conventions.rules.value).map((l) => l.split("=>").map((s) => s.trim())).map(([p, r]) => [p, r ?? ""]),
    },
  };
}
document.getElementById("conventions-preview")?.addEventListener("click", async () => {
  const { ok, data } = await send(`${conventions.dataset.url}?preview=1`, conventionsBody(), "PUT");
  const box = document.getElementById("conventions-result");
  if (!ok) return say(box, data.detail, true);
  say(box, `${data.answers_changed} of ${data.answers} answers change; ${data.pairs_made_equal} of ${data.pairs_disagreeing} disagreeing pairs become equal.`);
  document.getElementById("conventions-examples").innerHTML = data.examples.map((x) => `<li><s>${x.before}</s> → <b>${x.after}</b></li>`).join("");
});
conventions?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const { ok, data } = await send(conventions.dataset.url, conventionsBody(), "PUT");
  if (!ok) return say(document.getElementById("conventions-result"), data.detail, true);
  location.reload();
});

// Campaigns.
const campaign = document.getElementById("campaign-form");
campaign?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { name: campaign.name.value, overlap: campaign.overlap.value ? Number(campaign.overlap.value) : undefined,
    guideline: campaign.guideline.value ? Number(campaign.guideline.value) : undefined };
  const ids = campaign.items.value.split(/[\s,]+/).filter(Boolean);
  if (ids.length) body.items = ids.map(Number);
  else {
    body.filter = {};
    for (const key of ["class", "tag", "labeler"]) if (campaign[key].value) body.filter[key] = campaign[key].value;
    if (campaign.disagreement.checked) body.filter.disagreement = true;
  }
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
