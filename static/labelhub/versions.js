// The Versions page: follow running builds and reload when one finishes.
const rows = [...document.querySelectorAll("tr[data-build]")].filter((r) => ["queued", "running"].includes(r.dataset.status));
const poll = async () => {
  let finished = false;
  for (const row of rows) {
    const job = await (await fetch(`/api/jobs/${row.dataset.build}/`)).json();
    row.querySelector('[data-field="status"]').textContent = job.status;
    row.querySelector('[data-field="phase"]').textContent = job.result?.phase ?? "";
    const bar = row.querySelector('[data-field="progress"]');
    bar.max = job.total || 1; bar.value = job.processed;
    row.querySelector('[data-field="count"]').textContent = `${job.processed}${job.total != null ? " / " + job.total : ""}`;
    if (job.status === "succeeded" || job.status === "failed") finished = true;
  }
  if (finished) return location.reload();
  if (rows.length) setTimeout(poll, 2000);
};
if (rows.length) setTimeout(poll, 2000);
