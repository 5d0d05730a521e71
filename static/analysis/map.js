// The embedding map: a WebGL scatter (regl-scatterplot) of a project's items, coloured by label,
// suggested label, issue score, agreement, slice, source or a metadata field (a transcription map: by
// transcript WER and agreement instead of labels and scores); hover previews, click opens an item's
// answers, lasso selection feeds actions, and suspicious clusters highlight their points.
import createScatterplot from "../vendor/regl-scatterplot/regl-scatterplot.bundle.js";

const csrf = () => document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const GREY = "#c8ccd1";
const SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
  "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7", "#9C755F"];
// A perceptual ramp from low (blue) to high (red), for continuous colourings.
const RAMP = ["#313695", "#4575b4", "#74add1", "#abd9e9", "#e0f3f8", "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026"];

// The most items "Review these items" puts in the review page's address.
const REVIEW_LINK_MAX = 500;
// Transcript WER bins: (upper bound, legend, colour).
const WER_BINS = [[0, "WER 0", RAMP[0]], [0.1, "≤ 0.1", RAMP[2]], [0.25, "≤ 0.25", RAMP[5]], [0.5, "≤ 0.5", RAMP[7]], [Infinity, "> 0.5", RAMP[9]]];

// The map picker opens the chosen map (its options' values are the maps' pages).
document.getElementById("map-choice")?.addEventListener("change", (e) => { location.href = e.target.value; });

function startForm() {
  const form = document.getElementById("map-start");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch(form.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ embedder: form.embedder.value, ...(form.group_by ? { group_by: form.group_by.value } : {}) }),
    });
    const body = await response.json().catch(() => ({}));
    // 202: started; 200: the same map is still being computed (its page shows how far it is)
    if (response.status !== 202 && response.status !== 200) {
      const error = document.getElementById("map-start-error");
      error.textContent = (body.detail ?? Object.values(body).flat().join(" ")) || `HTTP ${response.status}`;
      return;
    }
    location.href = location.pathname.replace(/map\/(\d+\/)?$/, `map/${body.map}/`);
  });
}

function watchJob() {
  const box = document.getElementById("map-job");
  if (!box || !["queued", "running"].includes(box.dataset.status)) return;
  const bar = document.getElementById("map-progress");
  const text = document.getElementById("map-progress-text");
  const poll = async () => {
    const job = await (await fetch(`/api/jobs/${box.dataset.job}/`)).json();
    bar.max = Math.max(job.total ?? 1, 1);
    bar.value = job.processed;
    text.textContent = `${job.status}: ${job.processed} / ${job.total ?? "?"}`;
    // the heading follows the job too: it said "Queued" above "running: 1799 / 1801"
    const status = document.getElementById("map-job-status");
    if (status && job.status) status.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    if (job.status === "succeeded" || job.status === "failed") return location.reload();
    setTimeout(poll, 700);
  };
  poll();
}

async function drawMap(root) {
  const started = performance.now();
  const data = await (await fetch(root.dataset.dataUrl)).json();
  const n = data.item.length;
  // Class colours are #rrggbb; anything else (saved before colours were checked) falls back to the series.
  const classColours = root.dataset.colours ? root.dataset.colours.split(",").map((c) => (/^#[0-9a-f]{6}$/i.test(c) ? c : undefined)) : [];
  const canvas = document.getElementById("map-canvas");
  const tooltip = document.getElementById("map-tooltip");
  const scatterplot = createScatterplot({
    canvas,
    width: "auto",
    height: "auto",
    pointSize: n > 50000 ? 2 : n > 5000 ? 4 : 6,
    pointSizeSelected: 2,
    pointOutlineWidth: 1,
    opacity: n > 50000 ? 0.7 : 0.9,
    backgroundColor: "#ffffff",
    lassoColor: [0.1, 0.4, 0.8, 1],
    showReticle: false,
    // The points fill [-1, 1] on the longer side: a little farther back, the ones on the edge are whole
    // (at distance 1 the outermost cluster was cut in half by the canvas's edge). Reset view returns here.
    cameraDistance: 1.08,
  });
  const itemIndex = new Map(data.item.map((id, i) => [id, i]));
  // Classes are read by name, as every other page reads them; the data keeps the keys.
  const classNames = data.class_names ?? data.classes;
  const nameOf = new Map((data.classes ?? []).map((key, i) => [key, classNames[i]]));
  const named = (key) => nameOf.get(key) ?? key;
  let selected = [];
  const scored = data.label_issues !== false;
  const colourBy = document.getElementById("colour-by");
  // Metadata fields (a recording condition, a voice...) become colourings of their own.
  for (const [k, field] of (data.fields ?? []).entries()) {
    const option = document.createElement("option");
    option.value = `field:${k}`;
    option.textContent = `metadata: ${field.name}`;
    colourBy.append(option);
  }
  const ramp = (raw, lo, hi, legend, reverse = false) => ({
    values: raw.map((v) => (v === null ? 0 : Math.min(Math.max((v - lo) / (hi - lo || 1), 0), 1))),
    palette: reverse ? [...RAMP].reverse() : RAMP,
    legend,
    type: "continuous",
  });

  function colouring(by) {
    const categorical = (codes, names, colours, noneName = "none") => {
      const k = names.length;
      return {
        values: codes.map((c) => (c >= 0 ? c : k)),
        palette: [...names.map((_, i) => colours[i] ?? SERIES[i % SERIES.length]), GREY],
        legend: [...names.map((name, i) => [name, colours[i] ?? SERIES[i % SERIES.length]]), [noneName, GREY]],
        type: "categorical",
      };
    };
    if (by === "label") return categorical(data.label, classNames, classColours);
    if (by === "suggested") return categorical(data.suggested, classNames, classColours);
    if (by === "tag") return categorical(data.tag, data.tags, []);
    if (by === "source") return categorical(data.source, data.sources, []);
    if (by.startsWith("field:")) {
      const field = data.fields[Number(by.slice(6))];
      if (field.kind === "categorical") return categorical(field.codes, field.values, []);
      return ramp(field.numbers, field.min, field.max, [[`${field.min}`, RAMP[0]], [`${field.max}`, RAMP[9]]]);
    }
    if (by === "wer") {
      // Binned, blue (the transcripts agree) to red (half the words differ); grey: fewer than two transcripts.
      const bins = WER_BINS.map(([upper]) => upper);
      const codes = data.wer.map((v) => (v === null ? -1 : bins.findIndex((upper) => v <= upper)));
      return categorical(codes, WER_BINS.map(([, name]) => name), WER_BINS.map(([, , colour]) => colour), "fewer than two transcripts");
    }
    const raw = by === "score" ? data.score : data.agreement;
    return {
      values: raw.map((v) => (v === null ? 0 : Math.min(Math.max(v, 0), 1))),
      palette: by === "score" ? RAMP : [...RAMP].reverse(),
      legend: by === "score" ? [["0 (fine)", RAMP[0]], ["1 (likely wrong)", RAMP[9]]] : [["all agree", RAMP[0]], ["split", RAMP[9]]],
      type: "continuous",
    };
  }

  async function render(by, { keepView = false } = {}) {
    const c = colouring(by);
    scatterplot.set({ colorBy: "valueA", pointColor: c.palette });
    await scatterplot.draw({ x: data.x, y: data.y, valueA: c.values }, { zDataType: c.type, preventFilterReset: keepView });
    document.getElementById("legend").innerHTML = c.legend
      .map(([name, colour]) => `<span><i style="background:${esc(colour)}"></i>${esc(name)}</span>`)
      .join("");
  }

  const countLabel = document.getElementById("map-count");
  await render(colourBy.value);
  countLabel.textContent = `${n.toLocaleString()} items`;
  root.dataset.ready = "true";
  root.dataset.drawMs = String(Math.round(performance.now() - started));
  colourBy.addEventListener("change", (e) => render(e.target.value, { keepView: true }));

  // Hover: a preview at the pointer (the image, or the clip played).
  let pointer = [0, 0];
  let hoverAudio = null;
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    pointer = [e.clientX - rect.left, e.clientY - rect.top];
  });
  scatterplot.subscribe("pointover", (i) => {
    const id = data.item[i];
    const file = root.dataset.fileUrl.replace("/0/", `/${id}/`);
    const preview = root.dataset.modality === "image" ? `<img src="${file}" alt="">` : "";
    if (scored) {
      const label = data.label[i] >= 0 ? classNames[data.label[i]] : "unlabeled";
      const suggestion = data.suggested[i] >= 0 && data.suggested[i] !== data.label[i] ? ` → ${esc(classNames[data.suggested[i]])}?` : "";
      const since = data.changed?.[i] ? `<div class="small">answered or decided since the map was made</div>` : "";
      tooltip.innerHTML = `${preview}<div>#${id} <b>${esc(label)}</b>${suggestion} · score ${data.score[i].toFixed(2)}</div>${since}`;
    } else {
      const wer = data.wer[i] === null ? "fewer than two transcripts" : `WER ${data.wer[i].toFixed(2)} · agreement ${data.agreement[i].toFixed(2)}`;
      tooltip.innerHTML = `${preview}<div>#${id} · ${wer}</div>`;
    }
    tooltip.style.left = `${pointer[0] + 12}px`;
    tooltip.style.top = `${pointer[1] + 12}px`;
    tooltip.hidden = false;
    if (root.dataset.modality === "audio") {
      hoverAudio?.pause();
      hoverAudio = new Audio(file);
      hoverAudio.play().catch(() => {});
    }
  });
  scatterplot.subscribe("pointout", () => {
    tooltip.hidden = true;
    hoverAudio?.pause();
  });

  // Selection: a click opens the item; a lasso selects many for an action.
  const selectionCard = document.getElementById("selection-card");
  scatterplot.subscribe("select", ({ points }) => {
    selected = [...points];
    root.dataset.selected = selected.map((i) => data.item[i]).join(",");
    document.getElementById("selection-count").textContent = selected.length.toLocaleString();
    document.getElementById("selection-result").textContent = "";
    selectionCard.hidden = selected.length === 0;
    if (selected.length === 1) showItem(data.item[selected[0]]);
  });
  scatterplot.subscribe("deselect", () => {
    selected = [];
    root.dataset.selected = "";
    selectionCard.hidden = true;
  });
  document.getElementById("clear-selection").addEventListener("click", () => scatterplot.deselect());

  const lassoButton = document.getElementById("mode-lasso");
  lassoButton.addEventListener("click", () => {
    const on = lassoButton.getAttribute("aria-pressed") !== "true";
    lassoButton.setAttribute("aria-pressed", String(on));
    scatterplot.set({ mouseMode: on ? "lasso" : "panZoom" });
  });
  document.getElementById("reset-view").addEventListener("click", () => scatterplot.reset());

  document.getElementById("tag-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const tag = e.target.tag.value.trim();
    const items = selected.map((i) => data.item[i]);
    const response = await fetch(root.dataset.selectionUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ items, action: "tag", tag }),
    });
    const body = await response.json();
    document.getElementById("selection-result").textContent = response.ok
      ? `Tagged ${items.length} items as “${body.tag}” (${body.n_items} items carry it now).`
      : body.detail ?? `HTTP ${response.status}`;
    if (!response.ok) return;
    // The slice colouring shows the new slice at once, as the page reloaded would (it kept the tags it was
    // loaded with): the slices in the order they were made, a new one last; a point in one slice already
    // keeps it (one slice a point, the first it was given).
    let code = data.tags.indexOf(body.tag);
    if (code < 0) code = data.tags.push(body.tag) - 1;
    for (const i of selected) if (data.tag[i] < 0) data.tag[i] = code;
    if (colourBy.value === "tag") render("tag", { keepView: true });
  });

  document.getElementById("campaign-selection").addEventListener("click", async () => {
    const items = selected.map((i) => data.item[i]);
    const name = prompt("Name of the relabel campaign", `Map selection of ${items.length} items`);
    if (!name) return;
    const response = await fetch(root.dataset.campaignUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ name, items }),
    });
    const body = await response.json();
    const result = document.getElementById("selection-result");
    if (!response.ok) return (result.textContent = body.detail ?? `HTTP ${response.status}`);
    root.dataset.campaign = body.id;
    result.innerHTML = `Campaign <a href="${root.dataset.campaignPage}${body.id}/">${esc(body.name)}</a> started with ${body.n_items} items.`;
  });
  document.getElementById("review-selection").addEventListener("click", (e) => {
    e.preventDefault();
    const items = selected.map((i) => data.item[i]);
    // The review page takes its queue in its address: a few thousand ids were answered "414 Request-URI
    // Too Long" (gunicorn refuses an address of 4 KB). Up to 500, as the review queue's own links hold.
    if (items.length > REVIEW_LINK_MAX) {
      document.getElementById("selection-result").textContent =
        `${items.length.toLocaleString()} items are too many to review one after another from the map (at most ` +
        `${REVIEW_LINK_MAX}): tag them as a slice above and filter the review queue by it, start a relabel ` +
        "campaign, or select fewer.";
      return;
    }
    location.href = `${root.dataset.reviewUrl}${items[0]}/?queue=${items.join(",")}`;
  });

  async function showItem(id) {
    const card = document.getElementById("item-card");
    const item = await (await fetch(root.dataset.itemUrl.replace("/0.json", `/${id}.json`))).json();
    document.getElementById("item-title").textContent = `#${item.id} ${item.name ?? ""}`;
    const media = document.getElementById("item-media");
    if (item.file && root.dataset.modality === "image") media.innerHTML = `<img src="${item.file}" alt="">`;
    else if (item.file) media.innerHTML = `<audio controls src="${item.file}"></audio>`;
    else media.innerHTML = `<blockquote tabindex="0">${esc(item.text)}</blockquote>`;
    const flags = (a) => ["borderline", "uncertain", "out_of_domain"].filter((f) => a[f]).join(", ");
    document.getElementById("item-answers").innerHTML =
      (item.decision ? `<li>decided: <b>${esc(item.decision.what)}</b>${item.decision.reviewer ? ` by ${esc(item.decision.reviewer)}` : ""}</li>` : "") +
      (item.label ? `<li class="muted">imported label: <b>${esc(named(item.label))}</b></li>` : "") +
      (item.answers.length
        ? item.answers
            .map((a) => `<li><b>${esc(a.labeler)}</b>: ${esc(a.value ? named(a.value) : "—")} ${flags(a) ? `<span class="chip light">${flags(a)}</span>` : ""}
              ${a.comment ? `<div class="muted small">“${esc(a.comment)}”</div>` : ""}
              <span class="muted small">${a.seconds ? `${a.seconds.toFixed(1)} s` : ""}${a.guideline ? ` · guideline v${a.guideline}` : ""}</span></li>`)
            .join("")
        : `<li class="muted">no answers yet</li>`);
    card.hidden = false;
  }

  // Suspicious clusters: click one to select and frame its points.
  const list = document.getElementById("clusters");
  window.labelhubMap = { scatterplot, data, selectedItems: () => selected.map((i) => data.item[i]) };
  if (!list) return; // a transcription map has no label-issue clusters
  // An example opens its card when clicked (a clip plays there); a text one reads as its first words.
  const texts = data.example_texts ?? {};
  const thumb = (id) => (root.dataset.modality === "image"
    ? `<img src="${root.dataset.fileUrl.replace("/0/", `/${id}/`)}" alt="#${id}" loading="lazy" data-item="${id}">`
    : texts[id] !== undefined
      ? `<q class="example" data-item="${id}" title="#${id}">${esc(texts[id])}</q>`
      : `<span class="chip light" data-item="${id}">#${id}</span>`);
  list.innerHTML = data.clusters.length
    ? data.clusters
        .map((c, k) => `<li data-cluster="${k}"><b>${esc(c.description)}</b> <span class="muted small">(score ${c.score.toFixed(2)})</span>
          ${c.n_changed ? `<div class="small changed">${c.n_changed.toLocaleString()} of them answered or decided since the map was made</div>` : ""}
          <div class="thumbs">${c.examples.slice(0, 4).map(thumb).join("")}<span class="vs">vs</span>${c.neighbour_examples.slice(0, 4).map(thumb).join("")}</div></li>`)
        .join("")
    : `<li class="empty">No suspicious cluster found.</li>`;
  list.addEventListener("click", (e) => {
    const li = e.target.closest("li[data-cluster]");
    if (!li) return;
    const example = e.target.closest("[data-item]");
    if (example) showItem(Number(example.dataset.item));
    list.querySelectorAll("li").forEach((x) => x.classList.toggle("active", x === li));
    const indices = data.clusters[Number(li.dataset.cluster)].items.map((id) => itemIndex.get(id)).filter((i) => i !== undefined);
    scatterplot.select(indices);
    scatterplot.zoomToPoints(indices, { padding: 0.4, transition: true });
  });
  window.labelhubMap = { scatterplot, data, selectedItems: () => selected.map((i) => data.item[i]) };
}

startForm();
watchJob();
const root = document.getElementById("map-root");
if (root) drawMap(root);
