// The generate page: one seed in one color, a grid of consecutive seeds for browsing, or one
// seed in every color side by side. Generating sets each <img> src to the /generate route; the
// state (res, seed, color, view, and the model when one is picked) lives in the query string.

import {
  fillResolutions,
  loadImage,
  loadModel,
  randomSeed,
  readState,
  routes,
  SEED_MAX,
  seedNumber,
  setLink,
  setRatio,
  showError,
  writeState,
} from "./studio.js";

const GRID_SIZE = 8;
const $ = (id) => document.getElementById(id);
const form = $("controls");
const resSelect = $("res");
const seedInput = $("seed");
const colorSelect = $("color");
const errorBox = $("error");
const single = $("single");
const result = $("result");
const grid = $("grid");
const colorRow = $("colors");
let model = null;
const caption = $("caption");
const details = $("details");
const download = $("download");

function view() {
  return form.elements.view.value;
}

function fillColors(wanted) {
  const missing = model.channels === 1
    ? "a grey model"
    : model.conditional
      ? "not a class of this model"
      : "needs prototypes";
  const word = model.conditional ? "accurate" : "hit";
  colorSelect.replaceChildren(
    ...model.colors.map((color) => {
      const rate =
        color.success_rate == null ? "" : ` (${Math.round(color.success_rate * 100)}% ${word})`;
      const label = color.available ? `${color.name}${rate}` : `${color.name} (${missing})`;
      const option = new Option(label, color.name);
      option.disabled = !color.available;
      return option;
    }),
  );
  const usable = model.colors.some((c) => c.name === wanted && c.available);
  const first = model.colors.find((c) => c.available);
  if (!first) {
    throw new Error(
      `its classes (${model.classes.join(", ")}) are none of the colors this studio draws`,
    );
  }
  colorSelect.value = usable ? wanted : first.name;
  const help = $("color-help");
  if (model.channels === 1) {
    help.textContent = "This model was trained on grey images: it draws them in grey only.";
  } else if (model.conditional) {
    help.textContent =
      "This model draws each color as its class label, from the same latent; the rate is " +
      "how often the classifier sees the color asked for.";
  } else if (model.prototypes.available) {
    help.textContent =
      `Colors shift the latent by prototypes measured at ${model.prototypes.res}; ` +
      "the rate is how often the shifted image is classified as that color.";
  } else {
    const command = document.createElement("code");
    command.textContent = "python -m progan prototypes --model MODEL";
    help.replaceChildren("Colors other than original need prototypes; compute them with ", command);
  }
}

// Each generate() is a new request of the page; the outcome of an older one (another view,
// seed or color) must not write into the newer one's caption, details or error box.
let request = 0;

function generate() {
  request += 1;
  showError(errorBox, "");
  const res = resSelect.value;
  const seed = seedInput.value.trim();
  const color = colorSelect.value;
  if (!seed) {
    showError(errorBox, `Enter a seed: a whole number from 0 to ${SEED_MAX}.`);
    return;
  }
  writeState({ res, seed, color, view: view() });
  const shown = view() !== "single" && seedNumber(seed) === null ? "single" : view();
  single.classList.toggle("d-none", shown !== "single");
  grid.classList.toggle("d-none", shown !== "grid");
  colorRow.classList.toggle("d-none", shown !== "colors");
  download.classList.toggle("d-none", shown !== "single");
  updateBrowse(seed);
  const mine = request;
  if (shown === "grid") {
    showGrid(res, seedNumber(seed), color, mine);
  } else if (shown === "colors") {
    showColors(res, seedNumber(seed), mine);
  } else {
    showSingle(res, seed, color, mine);
  }
}

async function showSingle(res, seed, color, mine) {
  setRatio(single, res);
  caption.textContent = `seed ${seed} · ${res} · ${color}`;
  details.innerHTML = "&nbsp;";
  setLink(download, null);
  result.alt = `Generated image of seed ${seed} at ${res}, color ${color}`;
  const url = routes.generate(res, seed, color);
  const waiting = (message) => mine === request && showError(errorBox, message);
  const outcome = await loadImage(result, url, waiting);
  if (outcome.stale || mine !== request) return;
  if (outcome.ok) {
    setLink(download, url, `seed${seed}-${res}-${color}.png`);
    details.textContent = `${result.naturalWidth} × ${result.naturalHeight} pixels, shown enlarged`;
  } else {
    showError(errorBox, outcome.message);
    caption.innerHTML = "&nbsp;";
  }
}

function showGrid(res, first, color, mine) {
  const start = Math.min(first, SEED_MAX - GRID_SIZE + 1);
  const seeds = Array.from({ length: GRID_SIZE }, (_, i) => start + i);
  caption.textContent = `seeds ${seeds[0]}–${seeds[GRID_SIZE - 1]} · ${res} · ${color}`;
  const items = seeds.map((seed) => ({ seed, color, label: `seed ${seed}` }));
  return showCells(grid, res, items, mine);
}

/** The same seed in every color the model can draw, side by side. */
function showColors(res, seed, mine) {
  caption.textContent = `seed ${seed} · ${res} · every color`;
  const items = model.colors
    .filter((c) => c.available)
    .map((c) => ({ seed, color: c.name, label: c.name }));
  return showCells(colorRow, res, items, mine);
}

/** Fill ``container`` with one clickable image per item; a click opens that image alone. */
async function showCells(container, res, items, mine) {
  details.textContent = "Choose an image to open it alone.";
  setLink(download, null);
  const template = $("grid-cell");
  const cells = items.map((item) => {
    const cell = template.content.firstElementChild.cloneNode(true);
    cell.querySelector("img").alt = `Seed ${item.seed}, ${item.color}`;
    cell.querySelector(".seed-label").textContent = item.label;
    setRatio(cell.querySelector(".image-frame"), res);
    cell.querySelector("button").addEventListener("click", () => {
      seedInput.value = String(item.seed);
      colorSelect.value = item.color;
      $("view-single").checked = true;
      generate();
    });
    return cell;
  });
  container.replaceChildren(...cells);
  const outcomes = await Promise.all(
    cells.map((cell, i) =>
      loadImage(cell.querySelector("img"), routes.generate(res, items[i].seed, items[i].color)),
    ),
  );
  const failed = outcomes.find((outcome) => outcome.ok === false);
  if (failed && mine === request) showError(errorBox, failed.message);
}

/** Previous/next step by one seed, or by a whole grid page. */
function updateBrowse(seedText) {
  const step = view() === "grid" ? GRID_SIZE : 1;
  const seed = seedNumber(seedText);
  $("prev-label").textContent = step === 1 ? "Previous" : `Previous ${step}`;
  $("next-label").textContent = step === 1 ? "Next" : `Next ${step}`;
  $("prev").disabled = seed === null || seed === 0;
  $("next").disabled = seed === null || seed + step > SEED_MAX;
}

function browse(direction) {
  const seed = seedNumber(seedInput.value);
  if (seed === null) return;
  const step = view() === "grid" ? GRID_SIZE : 1;
  seedInput.value = String(Math.min(Math.max(seed + direction * step, 0), SEED_MAX));
  generate();
}

async function init() {
  try {
    model = await loadModel();
  } catch (err) {
    showError(errorBox, `The model description could not be loaded: ${err.message}`);
    return;
  }
  const state = readState({ res: "", seed: "", color: "original", view: "single" });
  fillResolutions(resSelect, model, state.res);
  try {
    fillColors(state.color);
  } catch (err) {
    showError(errorBox, `This model cannot be shown here: ${err.message}.`);
    $("generate").disabled = true;
    return;
  }
  seedInput.value = state.seed || randomSeed();
  const views = { grid: "view-grid", colors: "view-colors" };
  $(views[state.view] || "view-single").checked = true;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  for (const control of [resSelect, colorSelect, $("view-single"), $("view-grid"), $("view-colors")]) {
    control.addEventListener("change", generate);
  }
  $("random").addEventListener("click", () => {
    seedInput.value = randomSeed();
    generate();
  });
  $("prev").addEventListener("click", () => browse(-1));
  $("next").addEventListener("click", () => browse(1));
  generate();
}

init();
