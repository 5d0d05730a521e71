// New project page: add and remove class rows, offer only the task types a modality has, and hide the
// classes of a transcription project (it has none). The server checks everything again.
const form = document.getElementById("project-form");
const rows = document.getElementById("class-rows");
const template = document.getElementById("class-row-template");
const classesCard = document.getElementById("classes-card");
const tasksByModality = JSON.parse(document.getElementById("tasks-by-modality").textContent);

function addRow() {
  const row = template.content.firstElementChild.cloneNode(true);
  rows.appendChild(row);
  row.querySelector("input[name=class_key]").focus();
}

document.getElementById("add-class").addEventListener("click", addRow);

rows.addEventListener("click", (event) => {
  const button = event.target.closest(".remove-class");
  if (!button) return;
  const row = button.closest("tr");
  const next = row.nextElementSibling ?? row.previousElementSibling;
  row.remove();
  if (!rows.children.length) addRow();
  else next?.querySelector("input")?.focus();
});

// Enter in a class row adds the next row instead of submitting a half-filled form.
rows.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
  event.preventDefault();
  const row = event.target.closest("tr");
  if (row === rows.lastElementChild) addRow();
  else row.nextElementSibling.querySelector("input").focus();
});

function syncTasks() {
  const allowed = tasksByModality[form.modality.value] ?? [];
  for (const option of form.task_type.options) option.disabled = !allowed.includes(option.value);
  if (!allowed.includes(form.task_type.value)) form.task_type.value = allowed[0];
  classesCard.hidden = form.task_type.value === "transcription";
}

form.modality.addEventListener("change", syncTasks);
form.task_type.addEventListener("change", syncTasks);
syncTasks();
