// What both studio pages share: the model description, route URLs, page state in the query
// string, and loading an image route into an <img> with a spinner and the server's error text.

const root = document.body.dataset.root || "";
// The largest seed, from the server (progan.latent.SEED_LIMIT), so the pages and the CLI agree.
export const SEED_MAX = Number(document.body.dataset.seedMax);
// The model's version from /api/model. Images are cached for a year without asking again, so
// their URLs carry it (the server ignores it): a new model or new prototypes mean new URLs.
let version = "";
// The served model this page shows (?model=NAME); empty for the studio's default model.
const modelName = new URLSearchParams(window.location.search).get("model") || "";

/** The query of an image or API URL: the model when one is picked, then the rest. */
function query(params = {}) {
  const all = new URLSearchParams(modelName ? { model: modelName, ...params } : params);
  return all.toString();
}

/** URLs of the image routes; every part is encoded, so any text the user typed reaches the
 * server, which answers bad input with a JSON message that the page shows. */
export const routes = {
  generate: (res, seed, color) =>
    `${root}/generate/${enc(res)}/${enc(seed)}/${enc(color)}?${query({ v: version })}`,
  between: (res, a, b, t) =>
    `${root}/interpolate/${enc(res)}/${enc(a)}/${enc(b)}/${enc(t)}?${query({ v: version })}`,
  gif: (res, a, b, frames, delay) =>
    `${root}/interpolate/${enc(res)}/${enc(a)}/${enc(b)}.gif?` +
    query({ frames, delay, v: version }),
};

function enc(part) {
  return encodeURIComponent(String(part).trim());
}

export async function loadModel() {
  const response = await fetch(`${root}/api/model?${query()}`);
  if (!response.ok) {
    throw new Error(await errorText(response));
  }
  const model = await response.json();
  version = model.version;
  describeModel(model);
  fillModels(model);
  return model;
}

/** The navigation bar's model picker: switching reloads the page on the other model, keeping
 * the rest of the page's state. */
function fillModels(model) {
  const select = document.getElementById("model-select");
  select.replaceChildren(
    ...model.models.map((m) => new Option(m.conditional ? `${m.name} (by label)` : m.name, m.name)),
  );
  select.value = model.name;
  select.closest(".model-picker").classList.toggle("d-none", model.models.length < 2);
  select.onchange = () => {
    const params = new URLSearchParams(window.location.search);
    params.set("model", select.value);
    window.location.search = params.toString();
  };
}

function describeModel(model) {
  const shown = model.images_shown == null ? "" : ` · ${formatCount(model.images_shown)} images`;
  const largest = model.resolutions[model.resolutions.length - 1];
  document.getElementById("model-badge").textContent =
    `Model ${model.name} · up to ${largest}${shown}`;
  document.getElementById("model-footer").textContent =
    `Model “${model.name}”` +
    (model.dataset ? ` trained on ${model.dataset}` : "") +
    `${shown} shown in training · latent size ${model.latent_dim}` +
    ` · resolutions ${model.resolutions.join(", ")}`;
}

function formatCount(count) {
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}k`;
  return String(count);
}

/** Fill a <select> with the model's resolutions; the wanted one, else the largest. */
export function fillResolutions(select, model, wanted) {
  select.replaceChildren(...model.resolutions.map((res) => new Option(res.replace("x", " × "), res)));
  const fallback = model.resolutions[model.resolutions.length - 1];
  select.value = model.resolutions.includes(wanted) ? wanted : fallback;
}

/** Width over height of a 'WxH' resolution, for the frames' aspect ratio. */
export function setRatio(frame, res) {
  const [width, height] = res.split("x").map(Number);
  frame.style.setProperty("--ratio", `${width} / ${height}`);
}

/** The page's state from the query string, with defaults for what it lacks. */
export function readState(defaults) {
  const params = new URLSearchParams(window.location.search);
  const state = { ...defaults };
  for (const key of Object.keys(defaults)) {
    if (params.has(key)) state[key] = params.get(key);
  }
  return state;
}

/** Put the state (and the picked model) into the address bar without a reload, so the view
 * can be shared. */
export function writeState(state) {
  window.history.replaceState(null, "", `${window.location.pathname}?${query(state)}`);
}

export function randomSeed() {
  return String(crypto.getRandomValues(new Uint32Array(1))[0]);
}

/** A seed typed as plain digits within range, or null. */
export function seedNumber(text) {
  const trimmed = String(text).trim();
  if (!/^\d{1,10}$/.test(trimmed)) return null;
  const seed = Number(trimmed);
  return seed <= SEED_MAX ? seed : null;
}

export async function errorText(response) {
  try {
    const body = await response.json();
    return body.error || `the server answered ${response.status}`;
  } catch {
    return `the server answered ${response.status} ${response.statusText}`;
  }
}

/** How often a page asks again for an image the server was too busy to render (503). */
const BUSY_RETRIES = 5;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * fetch(url, options), asked again after its Retry-After while the studio answers 503 (busy
 * with heavy renders), at most BUSY_RETRIES times; each wait is shown through ``onBusy``. It
 * stops waiting once ``stale()`` says a newer request has taken over.
 */
export async function fetchWhenFree(url, options, onBusy, stale = () => false) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(url, options);
    if (response.status !== 503 || attempt >= BUSY_RETRIES || stale()) return response;
    const wait = Number(response.headers.get("Retry-After")) || 2;
    onBusy(`${await errorText(response)} (asking again in ${wait} s)`);
    await sleep(wait * 1000);
    if (stale()) return response;
  }
}

/**
 * Point an <img> at an image route and resolve when it settles: {ok: true} once loaded, or
 * {ok: false, message} with the server's JSON message. The route is fetched first, once, so an
 * error's message is read from that one answer; a good answer lands in the browser's cache
 * (image URLs carry the model version and are cached for good), where the <img> then finds it.
 * A 503 (the studio is busy with heavy renders) is shown through ``onBusy`` and asked again
 * after its Retry-After. A newer call on the same image wins; an older one resolves as
 * {stale: true}.
 */
export async function loadImage(img, url, onBusy = () => {}) {
  const frame = img.closest(".image-frame");
  const spinner = frame?.querySelector(".loading");
  const token = String(Number(img.dataset.token || 0) + 1);
  img.dataset.token = token;
  const stale = () => img.dataset.token !== token;
  const settle = (busy) => {
    spinner?.classList.toggle("d-none", !busy);
    frame?.setAttribute("aria-busy", String(busy));
  };
  const fail = (message) => {
    settle(false);
    img.removeAttribute("src");
    return { ok: false, message };
  };
  settle(true);
  try {
    const response = await fetchWhenFree(url, {}, onBusy, stale);
    if (stale()) return { stale: true };
    if (!response.ok) {
      const message = await errorText(response);
      return stale() ? { stale: true } : fail(message);
    }
    await response.blob(); // read to the end, so the answer is complete in the cache
  } catch (err) {
    return stale() ? { stale: true } : fail(`the server could not be reached (${err.message})`);
  }
  if (stale()) return { stale: true };
  onBusy("");
  return new Promise((resolve) => {
    img.onload = () => {
      if (stale()) return resolve({ stale: true });
      settle(false);
      resolve({ ok: true });
    };
    img.onerror = () => {
      if (stale()) return resolve({ stale: true });
      img.onerror = null;
      resolve(fail("the image could not be shown"));
    };
    img.src = url;
  });
}

export function showError(box, message) {
  box.textContent = message;
  box.classList.toggle("d-none", !message);
}

/** Enable or disable a link styled as a button (a download link before its file exists). */
export function setLink(link, href, filename) {
  if (href) {
    link.href = href;
    link.download = filename;
  } else {
    link.removeAttribute("href");
  }
  link.classList.toggle("disabled", !href);
  link.setAttribute("aria-disabled", String(!href));
}
