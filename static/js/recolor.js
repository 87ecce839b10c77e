// The recolor page: upload a photo, see it beside the CycleGAN translator's recolor (no mask
// needed), download the result. The translator is described by /api/translator; the photo is
// sent to POST /api/recolor, which answers PNG or a JSON message.

import { errorText, fetchWhenFree, setLink, showError } from "./studio.js";

const $ = (id) => document.getElementById(id);
const root = document.body.dataset.root || "";
const form = $("upload");
const input = $("photo");
const button = $("recolor");
const errorBox = $("error");
const before = $("before");
const after = $("after");
const download = $("download");
let urls = [];

async function describe() {
  const info = await (await fetch(`${root}/api/translator`)).json();
  const line = $("translator");
  if (!info.available) {
    line.textContent = `No translator is loaded: ${info.message}`;
    return;
  }
  line.textContent =
    `CycleGAN translator: original → ${info.to}, at ${info.res.replace("x", " × ")}` +
    (info.iterations ? `, ${info.iterations} iterations` : "") +
    ". It recolors the laundry without a mask and should leave the belt as it is.";
  button.disabled = false;
  $("after-label").textContent = `Recolored to ${info.to}`;
}

function busy(on) {
  button.disabled = on;
  const frame = after.closest(".image-frame");
  frame.querySelector(".loading").classList.toggle("d-none", !on);
  frame.setAttribute("aria-busy", String(on));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = input.files[0];
  if (!file) {
    showError(errorBox, "choose a JPEG or PNG photo first");
    return;
  }
  showError(errorBox, "");
  urls.forEach((url) => URL.revokeObjectURL(url));
  urls = [URL.createObjectURL(file)];
  before.src = urls[0];
  after.removeAttribute("src");
  setLink(download, null); // the last result's URL was just revoked
  $("result").classList.remove("d-none");
  busy(true);
  const body = new FormData();
  body.append("photo", file);
  try {
    const options = { method: "POST", body };
    const waiting = (message) => showError(errorBox, message);
    const response = await fetchWhenFree(`${root}/api/recolor`, options, waiting);
    showError(errorBox, "");
    if (!response.ok) throw new Error(await errorText(response));
    const url = URL.createObjectURL(await response.blob());
    urls.push(url);
    after.src = url;
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    setLink(download, url, name ? name[1] : "recolored.png");
  } catch (err) {
    showError(errorBox, err.message);
  } finally {
    busy(false);
    button.disabled = false;
  }
});

describe().catch((err) => showError(errorBox, `the translator could not be described (${err.message})`));
