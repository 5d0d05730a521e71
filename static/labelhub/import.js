// Import page: batched direct uploads with a progress bar, and background imports polled by job id.
const BATCH = 50;
const card = document.getElementById("progress-card");
const bar = document.getElementById("progress");
const text = document.getElementById("progress-text");
const reportBox = document.getElementById("report");
const csrf = () => document.querySelector("input[name=csrfmiddlewaretoken]").value;

function show(done, total, label) {
  card.hidden = false;
  bar.max = Math.max(total || 0, 1);
  bar.value = done;
  text.textContent = label ?? `${done} / ${total ?? "?"}`;
}

// duplicates and rejected: the rows listed (a job lists its first 1000 duplicates and keeps its first
// errors); counts: {duplicates, rejected} when there were more than listed (a job's result counts them all).
function renderReport(imported, duplicates, rejected, answers, counts = {}) {
  const nDuplicates = Math.max(counts.duplicates ?? 0, duplicates.length);
  const nRejected = Math.max(counts.rejected ?? 0, rejected.length);
  // Once items are in, the next step of a first day is labeling them.
  if (imported > 0) document.getElementById("next-step").hidden = false;
  const list = (rows, fmt) => rows.slice(0, 200).map((r) => `<li>${fmt(r)}</li>`).join("");
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  // "1 duplicate", "2 duplicates": the noun after a count agrees with it
  const noun = (n, one, many) => (n === 1 ? one : many);
  reportBox.innerHTML = `
    <p><b data-testid="imported">${imported}</b> imported · <b data-testid="duplicates">${nDuplicates}</b> ${noun(nDuplicates, "duplicate", "duplicates")} ·
       <b data-testid="rejected">${nRejected}</b> rejected</p>
    ${answers ? `<p><b data-testid="answers">${answers.created}</b> ${noun(answers.created, "answer", "answers")} added · ${answers.revised} revised · ${answers.unchanged} unchanged</p>` : ""}
    ${rejected.length ? `<h3>Rejected</h3><ul class="rejected">${list(rejected, (r) => {
      // a failed job's own error names no file or line: its reason alone, without a colon before it
      const where = r.name ?? r.line;
      return where == null || where === "" ? esc(r.reason) : `${esc(where)}: ${esc(r.reason)}`;
    })}</ul>` : ""}
    ${duplicates.length ? `<h3>Duplicates</h3><ul>${list(duplicates, (d) => `${esc(d.name)} (already item #${d.item ?? "?"})`)}</ul>` : ""}`;
}

function post(url, body, onUpload) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf());
    xhr.responseType = "json";
    if (onUpload) xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
    xhr.onload = () => resolve({ status: xhr.status, data: xhr.response });
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send(body);
  });
}

document.getElementById("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const files = [...form.files.files];
  let imported = 0;
  const duplicates = [], rejected = [];
  for (let start = 0; start < files.length; start += BATCH) {
    const body = new FormData();
    files.slice(start, start + BATCH).forEach((f) => body.append("files", f));
    body.append("source", form.source.value);
    body.append("tags", form.tags.value);
    const { status, data } = await post(form.dataset.url, body, (share) =>
      show(start + share * Math.min(BATCH, files.length - start), files.length));
    if (status >= 400) {
      rejected.push({ name: `files ${start + 1}-${start + BATCH}`, reason: data?.detail ?? `HTTP ${status}` });
      continue;
    }
    imported += data.imported.length;
    duplicates.push(...data.duplicates);
    rejected.push(...data.rejected);
    show(Math.min(start + BATCH, files.length), files.length);
    renderReport(imported, duplicates, rejected);
  }
  show(files.length, files.length, "done");
  renderReport(imported, duplicates, rejected);
});

document.getElementById("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = new FormData(form);
  show(0, 1, "uploading…");
  const { status, data } = await post(form.dataset.url, body, (share) => show(share * 100, 100, `uploading ${Math.round(share * 100)} %`));
  if (status !== 202 && status !== 200) {
    show(0, 1, "failed");
    reportBox.textContent = data?.detail ?? `HTTP ${status}`;
    return;
  }
  // 200: you sent this file with these options a moment ago and its import is still under way (a second
  // click, a retry after the page timed out): the server queued nothing new, and the page follows that job.
  reportBox.textContent = status === 200
    ? `This file is already being imported with these options (job ${data.job}): its progress is shown; nothing was queued twice.`
    : "";
  const poll = async () => {
    const job = await (await fetch(`/api/jobs/${data.job}/`, { headers: { Accept: "application/json" } })).json();
    // no total (not counted yet, or a failed file that was no manifest): the status alone, no "0 / ?"
    show(job.processed, job.total, job.total == null && !job.processed ? job.status : `${job.status}: ${job.processed} / ${job.total ?? "?"}`);
    if (job.status === "succeeded" || job.status === "failed") {
      const r = job.result || {};
      renderReport(r.imported ?? 0, r.duplicate_items ?? [], job.errors ?? [], r.answers,
        { duplicates: r.duplicates, rejected: r.rejected });
      return;
    }
    setTimeout(poll, 500);
  };
  poll();
});
