// The agreement page while a worker computes a large report: poll the job, reload when it is done.
const box = document.getElementById("report-job");
const poll = async () => {
  const job = await (await fetch(`/api/jobs/${box.dataset.job}/`)).json();
  document.getElementById("job-status").textContent = job.status;
  if (job.status === "succeeded") return location.reload();
  if (job.status === "failed") { document.getElementById("job-status").textContent = "failed: " + (job.errors.at(-1)?.reason ?? ""); return; }
  setTimeout(poll, 1000);
};
if (box) poll();
