"""Quality per budget: train several recipes from scratch for the same budget, evaluate each.

    python bench/quality_budget.py [--recipes baseline,logistic-r1,augment]
                                   [--kimg-per-phase 10 | --minutes 30]
                                   [--max-res 40x24] [--data laundry-recolored] [--n 1024]
                                   [--runs ~/runs/budget] [--out docs/quality_budget.md]

The budget is images (``--kimg-per-phase``: equal data, the paper's way of comparing) or wall
time (``--minutes``: equal CPU, what a user with two cores pays). A time budget still trains a
schedule in kimg, so that fade-ins stay smooth and resume stays exact: a short probe run of each
recipe measures its seconds per kimg at every phase, and the recipe then gets the kimg per phase
that fills the minutes (a faster step buys more images).

Every recipe is ``train.py`` with the same data, schedule and seed plus its own flags, run one
after the other on the same machine (never two at once: they would share the cores), then
``python -m progan evaluate`` on its export. One table: training minutes and images/s (from the
export's ``train_seconds``), SWD ×1e3 per Laplacian level with its ratio to the reals-vs-reals
floor, MS-SSIM beside the data's, and on laundry data the kind Fréchet distance beside its floor
(whole items, ``progan.kinds``). Ratios, not absolute speeds, compare across machines.

``originals-N`` trains the baseline on a laundry set rendered from N originals instead of
2,000 (built once under ``--runs``), evaluated against the usual set: does more data help at
equal kimg, where the code that makes the data could make any amount?
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE_KIMG = 1.0  # kimg per phase of the probe that times a recipe for --minutes
# Recipes that train the baseline on a bigger rendering of the laundry set (originals, each also
# recolored) and are evaluated against the usual one, so their floor and SWD compare with the rest.
ORIGINALS = {"originals-4000": 4000, "originals-8000": 8000}
# Each recipe is the flags it adds to the common train.py command.
RECIPES: dict[str, list[str]] = {
    "baseline": [],
    "jit": ["--jit"],
    "bf16": ["--mixed-precision", "bf16"],
    "logistic-r1": ["--loss", "logistic-r1"],
    "augment": ["--augment", "translation,cutout"],
    "logistic-r1+augment": ["--loss", "logistic-r1", "--augment", "translation,cutout"],
    "wide-top": ["--channels", "128,128,128,128,64,32"],
    "no-noise-inputs": ["--no-noise-inputs"],
    "labels": ["--labels"],
    "labels-rgb": ["--labels", "--label-entry", "rgb"],
    "curriculum": ["--color-curriculum", "2,3,4,5,10,20"],
    "curriculum-b": ["--color-curriculum", "5,20"],
    # 40 kimg more at the top stage, at Adam's 1e-3 throughout or stepped down to 1e-4
    "final": ["--final-kimg", "40"],
    "final-lr": ["--final-kimg", "40", "--final-lr", "1e-4"],
    **{name: [] for name in ORIGINALS},
}


def run(command: list[str], log: Path) -> None:
    with open(log, "a") as handle:
        proc = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed (exit {proc.returncode}); see {log}")


def training_data(name: str, args: argparse.Namespace) -> str:
    """The ``--data`` a recipe trains on: the common one, or a bigger laundry rendering."""
    if name not in ORIGINALS:
        return args.data
    root = Path(args.runs).expanduser() / f"data-{ORIGINALS[name]}"
    images = root / "laundry-recolored" / "images"
    if not (root / "laundry-recolored" / "manifest.json").is_file():
        run(
            [sys.executable, "-m", "progan.datasets", "laundry-recolored"]
            + ["--root", str(root), "--n", str(ORIGINALS[name])],
            root.with_suffix(".log"),
        )
    return str(images)


def train(name: str, folder: Path, kimg_per_phase: float, args: argparse.Namespace) -> None:
    """Train the recipe into ``folder``, or keep what a run of the same command left there (a
    rerun carries on where an interrupted benchmark stopped); a folder trained by another
    command is refused, so a table never shows old numbers under new flags."""
    flags = (
        ["--data", training_data(name, args), "--out", str(folder)]
        + ["--max-res", args.max_res, "--kimg-per-phase", f"{kimg_per_phase:.3f}"]
        + ["--eval-images", "0", "--save-every-min", "30", "--seed", str(args.seed)]
        + (["--batch-sizes", args.batch_sizes] if args.batch_sizes else [])
        + RECIPES[name]
    )
    record = folder.with_suffix(".flags.json")
    done = folder.with_suffix(".done")  # train.py returned: every phase trained
    if folder.exists():
        if not record.is_file() or json.loads(record.read_text()) != flags:
            raise SystemExit(
                f"{folder} was trained with other flags than this benchmark's; give another "
                "--runs folder or delete it"
            )
        if not done.is_file():  # an interrupted benchmark: the run carries on exactly
            run([sys.executable, "train.py", "--out", str(folder), "--resume"], log_of(folder))
            done.touch()
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(flags))
    run([sys.executable, "train.py", *flags], log_of(folder))
    done.touch()


def log_of(folder: Path) -> Path:
    return folder.with_suffix(".log")


def kimg_for_minutes(name: str, folder: Path, args: argparse.Namespace) -> float:
    """Kimg per phase that fills ``args.minutes``, from a probe run's training time.

    Every phase of the probe trains PROBE_KIMG, so its time scales with kimg per phase; the
    first steps of each phase (tracing) are in it, so the estimate errs on the short side
    rather than overrunning the budget.
    """
    probe = folder.parent / f"{folder.name}-probe"
    train(name, probe, PROBE_KIMG, args)
    seconds = json.loads((probe / "export" / "model.json").read_text())["train_seconds"]
    return args.minutes * 60 * PROBE_KIMG / seconds


def measure(name: str, args: argparse.Namespace) -> dict:
    folder = Path(args.runs).expanduser() / name
    log = log_of(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    kimg = kimg_for_minutes(name, folder, args) if args.minutes else args.kimg_per_phase
    train(name, folder, kimg, args)
    # one result per evaluation setting: another --n or --data measures again
    setting = hashlib.sha1(json.dumps([args.n, args.data]).encode()).hexdigest()[:8]
    result = folder / f"evaluate-{setting}.json"
    if not result.is_file():
        run(
            [
                sys.executable,
                "-m",
                "progan",
                "evaluate",
                "--model",
                str(folder),
                "--data",
                args.data,
            ]
            + ["--n", str(args.n), "--json", str(result)],
            log,
        )
    model = json.loads((folder / "export" / "model.json").read_text())
    trained = json.loads((folder / "config.json").read_text())["schedule"]["kimg_per_phase"]
    return {
        "recipe": name,
        "kimg_per_phase": trained,
        "seconds": model["train_seconds"],
        "images": model["images_shown"],
        **json.loads(result.read_text()),
    }


def row(r: dict) -> str:
    levels = sorted(int(k.removeprefix("swd_level")) for k in r if k.startswith("swd_level"))
    swd = " · ".join(
        f"{r[f'swd_level{k}']:.1f} ({r[f'swd_level{k}'] / r[f'swd_floor_level{k}']:.1f}×)"
        for k in levels
    )
    speed = r["images"] / r["seconds"]
    # the model's own accuracies; evaluate also writes the data's (accuracy_data_*) beside them
    accuracy = [r[k] for k in r if k.startswith("accuracy_") and not k.startswith("accuracy_data")]
    colors = (
        f"{sum(accuracy) / len(accuracy):.1%} ({r['accuracy_white']:.1%}) · "
        f"{r['multicolored']:.1%} · {r['shape_ssim']:.3f}"
        if accuracy
        else "–"
    )
    kinds = f"{r['kind_fd']:.1f} ({r['kind_fd_floor']:.1f})" if "kind_fd" in r else "–"
    return (
        f"| {r['recipe']} | {r['kimg_per_phase']:.1f} | {r['seconds'] / 60:.1f} | {speed:.0f} | "
        f"{swd} | {r['ms_ssim']:.3f} ({r['ms_ssim_real']:.3f}) | {colors} | {kinds} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="baseline,logistic-r1,augment,logistic-r1+augment")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--kimg-per-phase", type=float, default=10.0, help="images per phase")
    budget.add_argument("--minutes", type=float, help="minutes of training per recipe, instead")
    parser.add_argument("--max-res", default="40x24")
    parser.add_argument("--data", default="laundry-recolored")
    parser.add_argument("--n", type=int, default=1024, help="generated images per evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", help="passed to train.py (default: the preset's)")
    parser.add_argument("--runs", default="~/runs/budget", help="one run folder per recipe")
    parser.add_argument("--out", help="also write the table as Markdown to this file")
    args = parser.parse_args()
    names = [name.strip() for name in args.recipes.split(",") if name.strip()]
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipes {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    budget_flag = (
        f"--minutes {args.minutes}" if args.minutes else f"--kimg-per-phase {args.kimg_per_phase}"
    )
    header = [
        f"`python bench/quality_budget.py --recipes {','.join(names)} {budget_flag} "
        f"--max-res {args.max_res} --data {args.data} --n {args.n} --seed {args.seed}"
        + (f" --batch-sizes {args.batch_sizes}" if args.batch_sizes else "")
        + "` "
        f"({platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')})",
        "",
        "| recipe | kimg per phase | minutes | images/s | "
        "SWD ×1e3 per level, finest first (× floor) | MS-SSIM (data) | "
        "color accuracy (white) · multi-colored · shape SSIM | kind FD (floor) |",
        "|---|---:|---:|---:|---|---:|---|---:|",
    ]
    print("\n".join(header), flush=True)
    rows = []
    for name in names:
        rows.append(row(measure(name, args)))
        print(rows[-1], flush=True)
        if args.out:  # after every row, so a run cut short still leaves its table
            Path(args.out).write_text("\n".join(header + rows) + "\n")


if __name__ == "__main__":
    main()
