// Deleting items (managers): the item browser's selection ("Delete…") and the import page's "Delete the
// items of this import". A preview (nothing changes) fills the confirmation dialog with what would go and
// the dataset versions that hold the items; those need "Purge anyway" ticked before Delete is enabled.
const dialog = document.getElementById("delete-dialog");
const previewBox = document.getElementById("delete-preview");
const versionsBox = document.getElementById("delete-versions");
const versionList = document.getElementById("delete-version-list");
const rewriteList = document.getElementById("delete-rewrite");
const purge = document.getElementById("delete-purge");
const confirmButton = document.getElementById("delete-confirm");
const statusLine = document.getElementById("delete-status");
const csrf = () => dialog.querySelector("input[name=csrfmiddlewaretoken]").value;
const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
let request = null; // the selection the dialog is about: {items} | {filter} | {import_job}
let opener = null;

// What the last deletion did, said once after the reload.
const done = sessionStorage.getItem("labelhub-deleted");
if (done) {
  sessionStorage.removeItem("labelhub-deleted");
  const note = document.getElementById("deleted-note");
  if (note) {
    note.textContent = done;
    note.hidden = false;
  }
}

async function send(body) {
  const response = await fetch(dialog.dataset.deleteUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { detail: `HTTP ${response.status}` };
  }
  return { status: response.status, data };
}

function describe(p) {
  const parts = [
    plural(p.items, "item"),
    plural(p.answers, "answer"),
    plural(p.archived_answers, "archived answer"),
    plural(p.decisions, "SME decision"),
  ];
  let text = `Deleting takes ${parts.join(", ")}.`;
  if (p.campaigns.length) {
    text += ` Relabel campaigns holding them: ${p.campaigns.map((c) => `${c.name} (${plural(c.items, "item")})`).join(", ")}.`;
  }
  if (p.guideline_examples?.length) {
    const where = p.guideline_examples.map((g) => `v${g.guideline} (${plural(g.examples, "example")})`).join(", ");
    text += ` Guideline examples that go with them: ${where}; publish a guideline with other examples first to keep them.`;
  }
  if (p.runs_as_job) text += " A background job deletes this many; the page follows it.";
  return text;
}

export async function openDelete(body, from) {
  request = body;
  opener = from;
  previewBox.textContent = "Counting what would go…";
  versionsBox.hidden = true;
  purge.checked = false;
  confirmButton.disabled = true;
  statusLine.textContent = "";
  dialog.showModal();
  const { status, data } = await send({ ...body, preview: true });
  if (status !== 200) {
    previewBox.textContent = data.detail ?? `HTTP ${status}`;
    return;
  }
  previewBox.textContent = describe(data);
  previewBox.dataset.items = data.items;
  if (data.versions.length) {
    versionList.textContent = data.versions.map((v) => `version ${v.version} holds ${v.items.toLocaleString()} of them`).join("; ");
    // what a purge would do to each version's files
    rewriteList.textContent = data.versions
      .map((v) => {
        let text = `version ${v.version}: ${v.rewrite.join(", ")} rewritten`;
        if (v.remove.length) text += `, ${v.remove.join(", ")} removed`;
        return text;
      })
      .join("; ");
    versionsBox.hidden = false;
  }
  if (data.build_under_way) {
    previewBox.textContent += ` A dataset version is being built (job ${data.build_under_way}): delete once it has finished.`;
    previewBox.dataset.items = "0"; // nothing can go now, purge or not
  }
  confirmButton.disabled = previewBox.dataset.items === "0" || data.versions.length > 0;
  (data.versions.length ? purge : confirmButton).focus();
}

purge.addEventListener("change", () => {
  confirmButton.disabled = !purge.checked || previewBox.dataset.items === "0";
});

document.getElementById("delete-cancel").addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => opener?.focus());

async function follow(job) {
  for (;;) {
    const data = await (await fetch(`/api/jobs/${job}/`, { headers: { Accept: "application/json" } })).json();
    statusLine.textContent = `${data.status}: ${data.processed} / ${data.total ?? "?"}`;
    if (data.status === "succeeded") return null;
    if (data.status === "failed") return (data.errors ?? []).map((e) => e.reason).join("; ") || "the deletion failed";
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

confirmButton.addEventListener("click", async () => {
  confirmButton.disabled = true;
  statusLine.textContent = "Deleting…";
  const { status, data } = await send({ ...request, purge: purge.checked });
  let problem = null;
  if (status === 202) problem = await follow(data.job);
  else if (status !== 200) problem = data.detail ?? `HTTP ${status}`;
  if (problem) {
    statusLine.textContent = `Nothing was deleted: ${problem}`;
    return;
  }
  statusLine.textContent = status === 200 ? `Deleted ${plural(data.items, "item")}.` : "Deleted.";
  sessionStorage.setItem("labelhub-deleted", statusLine.textContent);
  window.location.reload();
});

// The item browser's selection.
const selection = document.getElementById("item-selection");
if (selection) {
  const boxes = [...document.querySelectorAll(".select-item")];
  const pageBox = document.getElementById("select-page");
  const matching = document.getElementById("select-matching");
  const count = document.getElementById("selected-count");
  const deleteButton = document.getElementById("delete-selected");
  const update = () => {
    const chosen = boxes.filter((b) => b.checked).length;
    const n = matching.checked ? Number(selection.dataset.matching) : chosen;
    count.textContent = n ? `${plural(n, "item")} selected${matching.checked ? " (all matching the filter)" : ""}` : "none selected";
    deleteButton.disabled = n === 0;
    pageBox.checked = boxes.length > 0 && chosen === boxes.length;
  };
  boxes.forEach((b) => b.addEventListener("change", () => {
    if (!b.checked) matching.checked = false;
    update();
  }));
  pageBox.addEventListener("change", () => {
    boxes.forEach((b) => { b.checked = pageBox.checked; });
    if (!pageBox.checked) matching.checked = false;
    update();
  });
  matching.addEventListener("change", () => {
    if (matching.checked) boxes.forEach((b) => { b.checked = true; });
    update();
  });
  deleteButton.addEventListener("click", () => {
    const body = matching.checked
      ? { filter: JSON.parse(selection.dataset.filter) }
      : { items: boxes.filter((b) => b.checked).map((b) => Number(b.value)) };
    openDelete(body, deleteButton);
  });
  update();
}

// The import page's "Delete the items of this import".
document.querySelectorAll("button.delete-import").forEach((button) => {
  button.addEventListener("click", () => openDelete({ import_job: Number(button.dataset.job) }, button));
});
