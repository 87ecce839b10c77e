// The interpolation page: the two seeds' images left and right, the image at the slider's
// position t in the middle, and an animated GIF of the whole walk on request. The state
// (res, a, b, t, frames, delay) lives in the query string.

import {
  fillResolutions,
  loadImage,
  loadModel,
  randomSeed,
  readState,
  routes,
  SEED_MAX,
  setLink,
  setRatio,
  showError,
  writeState,
} from "./studio.js";

const $ = (id) => document.getElementById(id);
const resSelect = $("res");
const seedA = $("seed-a");
const seedB = $("seed-b");
const slider = $("t");
const frames = $("frames");
const delay = $("delay");
const errorBox = $("error");
const gifBox = $("gif-box");
const gif = $("gif");
const download = $("download-gif");

// Several images load at once; the page shows the first failure's message and clears it only
// when a new round of loading starts.
let round = 0;
let model;

function position() {
  return Number(slider.value).toFixed(2);
}

function state() {
  return {
    res: resSelect.value,
    a: seedA.value.trim(),
    b: seedB.value.trim(),
    t: position(),
    frames: frames.value.trim(),
    delay: delay.value.trim(),
  };
}

function report(outcome, mine) {
  if (mine === round && outcome.ok === false) showError(errorBox, outcome.message);
}

function seedsMissing({ a, b }) {
  if (a && b) return false;
  showError(errorBox, `Enter both seeds: whole numbers from 0 to ${SEED_MAX}.`);
  return true;
}

/** A GIF made for other seeds or another resolution is no longer what the page shows: one
 * still loading is dropped too (a newer token makes its outcome stale). */
function dropGif() {
  gif.dataset.token = String(Number(gif.dataset.token || 0) + 1);
  $("make-gif").disabled = false; // the dropped one may never settle: its src is gone
  gifBox.classList.add("d-none");
  gif.removeAttribute("src");
  setLink(download, null);
}

function showEnds() {
  round += 1;
  const mine = round;
  showError(errorBox, "");
  dropGif();
  const s = state();
  if (seedsMissing(s)) return;
  writeState(s);
  for (const frame of document.querySelectorAll(".image-frame:not(.gif-frame)")) {
    setRatio(frame, s.res);
  }
  $("label-a").textContent = `seed ${s.a}`;
  $("label-b").textContent = `seed ${s.b}`;
  const color = model.default_color;
  loadImage($("end-a"), routes.generate(s.res, s.a, color)).then((o) => report(o, mine));
  loadImage($("end-b"), routes.generate(s.res, s.b, color)).then((o) => report(o, mine));
  showMiddle();
}

function showMiddle() {
  const mine = round;
  const s = state();
  $("t-value").value = s.t;
  slider.setAttribute("aria-valuetext", `t = ${s.t}`);
  if (seedsMissing(s)) return;
  writeState(s);
  loadImage($("middle"), routes.between(s.res, s.a, s.b, s.t)).then((o) => report(o, mine));
}

async function makeGif() {
  round += 1;
  const mine = round;
  showError(errorBox, "");
  const s = state();
  if (seedsMissing(s)) return;
  writeState(s);
  setRatio(gif.closest(".image-frame"), s.res);
  gifBox.classList.remove("d-none");
  setLink(download, null);
  const url = routes.gif(s.res, s.a, s.b, s.frames, s.delay);
  $("make-gif").disabled = true;
  let outcome;
  try {
    outcome = await loadImage(gif, url, (message) => showError(errorBox, message));
  } finally {
    $("make-gif").disabled = false;
  }
  if (outcome.stale || mine !== round) return;
  if (outcome.ok) {
    setLink(download, url, `seed${s.a}-seed${s.b}-${s.res}-${s.frames}f.gif`);
  } else {
    dropGif();
    report(outcome, mine);
  }
}

async function init() {
  try {
    model = await loadModel();
  } catch (err) {
    showError(errorBox, `The model description could not be loaded: ${err.message}`);
    return;
  }
  const limits = model.limits;
  const s = readState({
    res: "",
    a: "",
    b: "",
    t: "0.5",
    frames: String(limits.default_frames),
    delay: String(limits.default_delay_ms),
  });
  fillResolutions(resSelect, model, s.res);
  if (!model.colors.some((c) => c.name === model.default_color && c.available)) {
    const classes = model.classes.join(", ");
    showError(errorBox, `This model cannot be shown here: its classes (${classes}) are no colors.`);
    for (const button of document.querySelectorAll("button")) button.disabled = true;
    return;
  }
  seedA.value = s.a || randomSeed();
  seedB.value = s.b || randomSeed();
  slider.value = s.t;
  [frames.min, frames.max] = limits.frames;
  [delay.min, delay.max] = limits.delay_ms;
  frames.value = s.frames;
  delay.value = s.delay;
  $("gif-help").textContent =
    `${limits.frames[0]} to ${limits.frames[1]} frames from A to B, both included; ` +
    `${limits.delay_ms[0]} to ${limits.delay_ms[1]} ms per frame (GIF keeps hundredths of a second).`;

  $("controls").addEventListener("submit", (event) => {
    event.preventDefault();
    showEnds();
  });
  for (const control of [resSelect, seedA, seedB]) control.addEventListener("change", showEnds);
  $("random-a").addEventListener("click", () => {
    seedA.value = randomSeed();
    showEnds();
  });
  $("random-b").addEventListener("click", () => {
    seedB.value = randomSeed();
    showEnds();
  });
  slider.addEventListener("input", showMiddle);
  $("gif-form").addEventListener("submit", (event) => {
    event.preventDefault();
    makeGif();
  });
  showEnds();
}

init();
