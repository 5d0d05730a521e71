// The review page, keyboard-first: class hotkeys pick the final label; b/u/o flags, g gold, r rationale,
// a/i/s actions; t the final transcript, Shift+1-9 starts it from that row's transcript; Enter records the
// decision and moves to the next disputed item; n skips. What the SME has begun on the item (the label or
// transcript, the flags, gold, the rationale, the action) is the tab's draft until it is recorded: a reload
// or a trip back in history puts it back (../drafts.js).
import { announceDraft, dropOthersDrafts, fillForm, ItemDraft, pruneReviewDrafts, readForm, reviewDraftNote } from "../drafts.js";
import { AudioViewer, ImageViewer } from "../labeling/viewers.js";
import { sendJSON } from "../session.js";
import { keepsEnter, mouseClicksGiveFocusBack } from "./controls.js";
import { decidedMeanwhile, draftWithdrawalGone, withdrawnSaid } from "./meanwhile.js";
import { sayOnNextPage, sayWhatWasKept } from "./said.js";

const root = document.getElementById("review");
// The labeling page's viewers: zoom, pan, brightness and contrast for images; waveform, speed and loops
// for audio. Their keys (+ - \\ arrows [ ] { } , . Space) never clash with the page's own.
const stage = document.getElementById("stage");
let viewer = null;
if (stage && document.getElementById("image-viewer")) viewer = new ImageViewer();
else if (stage) viewer = new AudioViewer({ wavesurfer: stage.dataset.wavesurfer, regions: stage.dataset.regions });
viewer?.show({ id: Number(root.dataset.item), file: stage.dataset.file });
const form = document.getElementById("decision-form");
const status = document.getElementById("decision-status");
const buttons = [...form.querySelectorAll(".class-button")];
let label = "";
// The previous page's "Decision recorded on item #N." has a line of its own: said in the status line, it
// and this item's draft put back took each other's place, and a screen reader heard only one.
sayWhatWasKept(document.getElementById("said-status"));

function showLabel(key) {
  label = key;
  buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.label === label)));
}

function pick(key) {
  showLabel(label === key ? "" : key);
  form.querySelector("input[name=action][value=label]").checked = true;
  draft.save();
}
buttons.forEach((b) => b.addEventListener("click", () => pick(b.dataset.label)));

// Transcription: the final transcript starts from a labeler's (edited from there, not typed again).
const uses = [...document.querySelectorAll(".use-transcript")];
function useTranscript(button) {
  if (!button) return;
  form.label.value = button.dataset.transcript;
  form.querySelector("input[name=action][value=label]").checked = true;
  form.label.focus();
  form.label.setSelectionRange(form.label.value.length, form.label.value.length);
  draft.save();
}
uses.forEach((b) => b.addEventListener("click", () => useTranscript(b)));

const toggle = (name) => {
  const box = form.querySelector(`input[name=${name}]`);
  if (box) box.checked = !box.checked;
  draft.save();
};
// The actions' and gold's keys come from the page: a, i, s and g, or their capitals where a class's hotkey
// takes the letter.
const actionKeys = Object.fromEntries(
  [...form.querySelectorAll("input[name=action][data-hotkey]")].map((input) => [input.dataset.hotkey, input.value]),
);
const goldKey = form.gold?.dataset.hotkey || "g";

let sending = false;
async function submit() {
  if (sending) return; // a second Enter while the first is on its way records nothing more
  const action = form.querySelector("input[name=action]:checked").value;
  const body = {
    action,
    rationale: form.rationale.value,
    label: action === "label" ? (root.dataset.task === "transcription" ? form.label.value : label) : "",
    borderline: action === "label" && !!form.borderline?.checked,
    uncertain: action === "label" && !!form.uncertain?.checked,
    out_of_domain: action === "label" && !!form.out_of_domain?.checked,
    gold: action === "label" && form.gold.checked,
    // The latest decision this page showed: one another reviewer records meanwhile is answered 409.
    supersedes: root.dataset.latest ? Number(root.dataset.latest) : null,
  };
  sending = true;
  status.textContent = "saving…";
  const { ok, status: code, data } = await sendJSON(root.dataset.decisionUrl, body, { what: "Your decision is" });
  sending = false;
  if (code === 409 && data.decision) {
    root.dataset.latest = data.decision.id; // seen now: sending again records over it
    status.textContent = decidedMeanwhile(data.decision, form);
    status.classList.add("error");
    return;
  }
  if (!ok) {
    status.textContent = data.detail;
    status.classList.add("error");
    return;
  }
  sending = true; // on the way to the next item
  draft.close();
  status.classList.remove("error");
  const said = action === "withdrawn" ? withdrawnSaid(root.dataset.item) : `Decision recorded on item #${root.dataset.item}.`;
  status.textContent = said;
  sayOnNextPage(said); // this page goes: the next one says it
  root.dataset.decided = data.id;
  location.href = root.dataset.nextUrl || root.dataset.queueUrl;
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  submit();
});

document.addEventListener("keydown", (e) => {
  if (e.target.closest?.("[data-draft-discard]") && (e.key === "Enter" || e.key === " ")) return; // the button's
  if (keepsEnter(e, form.querySelector("#decide"))) return; // a focused class, Skip, zoom...: that control's
  const typing = e.target.matches("textarea, input[type=text]");
  if (typing) {
    if (e.key === "Escape") e.target.blur();
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const digit = /^Digit([1-9])$/.exec(e.code);
  if (digit && e.shiftKey && uses.length) {
    e.preventDefault();
    return useTranscript(uses.find((b) => b.dataset.row === digit[1]));
  }
  const button = buttons.find((b) => b.dataset.hotkey === e.key);
  if (button) return pick(button.dataset.label);
  if (e.key === "b") return toggle("borderline");
  if (e.key === "u") return toggle("uncertain");
  if (e.key === "o") return toggle("out_of_domain");
  if (e.key === goldKey) return toggle("gold");
  if (actionKeys[e.key]) {
    form.querySelector(`input[name=action][value=${actionKeys[e.key]}]`).checked = true;
    draft.save();
    return;
  }
  if (e.key === "r" || (e.key === "t" && root.dataset.task === "transcription")) {
    e.preventDefault();
    (e.key === "r" ? form.rationale : form.label).focus();
    return;
  }
  if (e.key === "n") document.getElementById("skip-link")?.click();
  if (e.key === "Enter") {
    e.preventDefault();
    submit();
  }
  if (viewer?.key(e)) e.preventDefault();
});
mouseClicksGiveFocusBack();

// --- the draft ------------------------------------------------------------------------------------------
// One per project, reviewer and item, in this tab's sessionStorage; never sent by itself: put back, said on
// the status line with a button that discards it, and recorded by the SME as any decision.
const draft = new ItemDraft({
  name: `review.${root.dataset.project}.${root.dataset.item}`,
  user: document.body.dataset.user,
  item: Number(root.dataset.item),
  snapshot: () => ({ fields: readForm(form), label }),
  apply: (state) => {
    fillForm(form, state.fields ?? {});
    showLabel(buttons.some((b) => b.dataset.label === state.label) ? state.label : "");
  },
  extra: () => ({ latest: root.dataset.latest || null }),
});
form.addEventListener("input", () => draft.save());
form.addEventListener("change", () => draft.save());
window.addEventListener("pagehide", () => draft.save());
// Skipping on purpose (n, or the link) gives up what was begun here.
document.getElementById("skip-link")?.addEventListener("click", () => draft.close());
dropOthersDrafts(document.body.dataset.user);
pruneReviewDrafts(root.dataset.project, document.body.dataset.user);
draft.start().then((kept) => {
  if (!kept) return;
  announceDraft(status, reviewDraftNote(kept.latest, root.dataset.latest || null) + draftWithdrawalGone(form), async () => {
    await draft.discard();
    status.textContent = "Discarded: the decision is as the page opened it.";
  });
});
