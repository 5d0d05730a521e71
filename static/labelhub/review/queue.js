// The review queue: Enter opens the first item (the review page then moves through the list).
const first = document.querySelector("#review-queue tbody a.button");
document.addEventListener("keydown", (e) => { if (e.key === "Enter" && first && !e.target.closest("form")) first.click(); });
