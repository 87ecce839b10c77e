// The recolor page: upload a photo and see it recolored, either inside the cloth mask the
// segmenter predicts (at the photo's own size, the default) or by the CycleGAN translator (its
// own small size). A slider compares before and after, a switch lays the predicted mask over
// the photo, and both the recolor and the mask download. The models are described by
// /api/segmenter and /api/translator; the photo goes to POST /api/mask and /api/recolor, which
// answer PNG or a JSON message. Another color of the same photo reuses the server's mask.

import { errorText, fetchWhenFree, setLink, showError } from "./studio.js";

const $ = (id) => document.getElementById(id);
const root = document.body.dataset.root || "";
const form = $("upload");
const input = $("photo");
const method = $("method");
const color = $("color");
const button = $("recolor");
const errorBox = $("error");
const compare = $("compare");
const before = $("before");
const after = $("after");
const overlay = $("overlay");
const showMask = $("show-mask");
const download = $("download");
const downloadMask = $("download-mask");
const models = {};
let urls = [];

async function describe() {
  const [segmenter, translator] = await Promise.all(
    ["segmenter", "translator"].map(async (name) => (await fetch(`${root}/api/${name}`)).json()),
  );
  models.segment = segmenter;
  models.cyclegan = translator;
  for (const option of method.options) {
    option.disabled = !models[option.value].available;
  }
  if (!segmenter.available && translator.available) method.value = "cyclegan";
  methodChanged();
}

/** The help line, the color choices and the button follow the chosen method. */
function methodChanged() {
  const info = models[method.value];
  const help = $("method-help");
  button.disabled = !info.available;
  if (!info.available) {
    help.textContent = `Not available here: ${info.message}`;
    return;
  }
  if (method.value === "segment") {
    const iou = info.held_out_iou == null ? "" : `, ${(100 * info.held_out_iou).toFixed(1)} % IoU on photos it never saw`;
    help.textContent =
      `A cloth segmenter (${info.res.replace("x", " × ")}${iou}) finds the laundry; only the ` +
      "laundry changes color, at the photo's own size, and the belt stays exactly as it was.";
    color.disabled = false;
  } else {
    help.textContent =
      `CycleGAN translator: original → ${info.to}, at ${info.res.replace("x", " × ")}. It ` +
      "regenerates the whole picture at that small size.";
    color.value = info.to;
    color.disabled = true;
  }
}

function busy(on) {
  button.disabled = on;
  compare.querySelector(".loading").classList.toggle("d-none", !on);
  compare.setAttribute("aria-busy", String(on));
}

/** POST the photo to ``route`` with ``fields``; the answer as an object URL and file name. */
async function post(route, file, fields) {
  const body = new FormData();
  body.append("photo", file);
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  const waiting = (message) => showError(errorBox, message);
  const response = await fetchWhenFree(`${root}${route}`, { method: "POST", body }, waiting);
  showError(errorBox, "");
  if (!response.ok) throw new Error(await errorText(response));
  const url = URL.createObjectURL(await response.blob());
  urls.push(url);
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return { url, name: name ? name[1] : "recolored.png" };
}

/** The grey mask as a tinted, half-transparent picture to lay over the photo. */
async function tinted(maskUrl) {
  const image = new Image();
  image.src = maskUrl;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const cloth = pixels.data[i];
    pixels.data.set([255, 0, 200, Math.round(cloth * 0.6)], i);
  }
  context.putImageData(pixels, 0, 0);
  return canvas.toDataURL("image/png");
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
  overlay.removeAttribute("src");
  overlay.classList.add("d-none");
  showMask.checked = false;
  showMask.disabled = true;
  setLink(download, null); // the last result's URLs were just revoked
  setLink(downloadMask, null);
  $("result").classList.remove("d-none");
  busy(true);
  try {
    const chosen = method.value;
    if (chosen === "segment") {
      const mask = await post("/api/mask", file, {});
      overlay.src = await tinted(mask.url);
      setLink(downloadMask, mask.url, mask.name);
      showMask.disabled = false;
    }
    const result = await post("/api/recolor", file, { method: chosen, color: color.value });
    after.src = result.url;
    await after.decode();
    setLink(download, result.url, result.name);
    $("after-label").textContent =
      `${chosen === "segment" ? "Recolored" : "Translated"} to ${color.value}, ` +
      `${after.naturalWidth} × ${after.naturalHeight}`;
  } catch (err) {
    showError(errorBox, err.message);
  } finally {
    busy(false);
    button.disabled = !models[method.value].available;
  }
});

$("split").addEventListener("input", (event) => {
  compare.style.setProperty("--split", `${event.target.value}%`);
});
showMask.addEventListener("change", () => overlay.classList.toggle("d-none", !showMask.checked));
method.addEventListener("change", methodChanged);

describe().catch((err) => showError(errorBox, `the recolor models could not be described (${err.message})`));
