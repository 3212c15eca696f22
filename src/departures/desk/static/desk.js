// The desk's little JavaScript: every page works without it (forms post, progress pages
// refresh themselves); with it, progress moves without reloads, counts update as filters
// change, and alt texts are saved as they are typed.
"use strict";

function pollJob(box) {
  const url = box.dataset.job;
  const stage = document.getElementById("job-stage");
  const count = document.getElementById("job-count");
  const bar = document.getElementById("job-bar");
  const tick = async () => {
    let job;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      job = await response.json();
    } catch (e) {
      setTimeout(tick, 2000);
      return;
    }
    if (job.state !== "running") {
      window.location.assign(job.state === "done" ? job.next : window.location.href);
      return;
    }
    if (job.stage_label) stage.textContent = job.stage_label;
    count.textContent = job.total ? job.done_text + " / " + job.total_text : job.done_text;
    if (job.percent !== null) { bar.value = job.percent; bar.textContent = job.percent + "%"; }
    setTimeout(tick, 700);
  };
  setTimeout(tick, 700);
}

function liveCounts(form) {
  const target = document.getElementById(form.dataset.counts);
  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const data = new URLSearchParams(new FormData(form));
      const response = await fetch(form.dataset.countsUrl + "?" + data.toString(),
                                   { credentials: "same-origin" });
      if (response.ok) target.innerHTML = await response.text();
    }, 300);
  });
}

function saveAsYouGo(form) {
  const status = form.querySelector(".saved");
  const csrf = form.querySelector("input[name=csrf]").value;
  let timer = null;
  const save = async () => {
    const response = await fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: new URLSearchParams(new FormData(form)),
    });
    if (response.ok) {
      const answer = await response.json();
      status.textContent = answer.message;
      const progress = document.getElementById("alt-progress");
      if (progress && answer.progress) progress.textContent = answer.progress;
    }
  };
  form.querySelector("textarea").addEventListener("input", () => {
    status.textContent = "";
    clearTimeout(timer);
    timer = setTimeout(save, 800);
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); save(); });
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job");
  if (job) pollJob(job);
  document.querySelectorAll("form[data-counts]").forEach(liveCounts);
  document.querySelectorAll("form.alt-text").forEach(saveAsYouGo);
});
