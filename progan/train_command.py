"""The training command, ``python train.py`` (or ``progan train``).

Flags become a :class:`config.TrainConfig`; the trainer does the rest. With ``--resume`` the
run's saved settings are the defaults and only the flags given on this command line override
them (for example a higher ``--max-res`` to grow a finished run further).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from config import (
    AUGMENTATIONS,
    DATA_ROOT,
    IMAGE_CHANNELS,
    JIT_MODES,
    LABEL_ENTRIES,
    LOSSES,
    MIXED_PRECISION_MODES,
    PRESETS,
    TrainConfig,
)
from progan import backend, run_folder, widen
from progan.backend import BACKENDS
from progan.cli import Parser, count, real_number, resume_command, whole_number
from progan.errors import ProganError
from progan.latent import SEED_LIMIT
from progan.quiet import import_tensorflow
from progan.resolution import base_for, format_res, parse_res, stage_index, stage_shapes

DEFAULT_OUT = Path.home() / "runs" / "laundry"


def build_parser() -> Parser:
    p = Parser(prog="train.py", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        help="image folder, or laundry, laundry-recolored, cifar10:CLASS, "
        "stl10:CLASS (default laundry)",
    )
    p.add_argument("--out", help=f"run folder (default {DEFAULT_OUT})")
    p.add_argument("--data-root", help="where named data sets and caches live (default data/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--from",
        dest="from_export",
        metavar="EXPORT",
        help="start a new run in --out from an export's phase-end training state (a run folder, "
        "an export folder, or checkpoints for the shipped model), e.g. to grow it further",
    )
    p.add_argument(
        "--labels",
        action="store_true",
        default=None,
        help="conditional model on the data's classes (labels.csv, or one subfolder per class)",
    )
    p.add_argument(
        "--label-entry",
        choices=LABEL_ENTRIES,
        help="where G takes the class of --labels: latent (an embedding joined to the latent, "
        "default) or rgb (a toRGB per class: a seed keeps its item in every class); a new run only",
    )
    p.add_argument(
        "--image-channels",
        choices=IMAGE_CHANNELS,
        help="channels to train: 1 (grey), 3 (color) or auto (default: 1 when every image of the "
        "data is grey); a new run only",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="network and schedule (default cpu)")
    p.add_argument("--max-res", help="last stage, WIDTHxHEIGHT (default 80x48)")
    p.add_argument("--base", help="first stage, WIDTHxHEIGHT (default: halve --max-res)")
    p.add_argument(
        "--kimg-per-phase", type=real_number(0, above=True), help="thousands of images per phase"
    )
    p.add_argument(
        "--epochs-per-res",
        type=real_number(0, above=True),
        help="epochs of the data per stage (fade-in + stabilize), instead of kimg",
    )
    p.add_argument(
        "--color-curriculum",
        metavar="K,K,…",
        help="grow the colors of the reals: k-means to each K in turn over equal shares of the "
        "run, then full color (e.g. 2,3,4,5,10,20 or 5,20; 'none' turns it off on --resume)",
    )
    p.add_argument(
        "--final-kimg",
        type=real_number(0),
        help="thousands of images to keep training at the top stage after its stabilize phase",
    )
    p.add_argument(
        "--final-lr",
        type=real_number(0, above=True),
        help="Adam's learning rate at the last chunk of the --final-kimg training: the chunks step "
        "down geometrically from --lr to it (e.g. 1e-4; default: --lr throughout)",
    )
    p.add_argument(
        "--channels",
        help="comma-separated feature maps per stage, e.g. 128,128,128,64,64 (the rest from the "
        "preset); a new run, or with --from the stages it grows (the export's stages as they are)",
    )
    p.add_argument(
        "--noise-inputs",
        action=argparse.BooleanOptionalAction,
        help="per-pixel noise after every conv above the base, drawn from the latent (StyleGAN's "
        "noise inputs; the cpu preset has them, paper not); a new run, or with --from added at "
        "zero strength (its images unchanged)",
    )
    p.add_argument("--batch-sizes", help="comma-separated global batch per stage, e.g. 64,64,32")
    p.add_argument(
        "--n-critic", type=whole_number(1), help="critic steps per generator step (default 1)"
    )
    p.add_argument(
        "--loss",
        choices=LOSSES,
        help="wgan-gp (the paper's, default) or logistic-r1 (non-saturating, lazy R1 on reals)",
    )
    p.add_argument(
        "--r1-gamma", type=real_number(0), help="R1 weight γ of --loss logistic-r1 (default 1)"
    )
    p.add_argument(
        "--augment",
        help="DiffAugment on everything the critic sees: translation, cutout or "
        "translation,cutout; 'none' turns it off on --resume",
    )
    p.add_argument(
        "--lr", type=real_number(0, above=True), help="Adam learning rate (default 1e-3)"
    )
    p.add_argument(
        "--ema-kimg",
        type=real_number(0, above=True),
        help="half-life of the generator's moving average in kimg (cpu preset 2.5 for its short "
        "phases, paper 11.08); may change on --resume, e.g. longer for --final-kimg",
    )
    p.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        default=None,
        help="no horizontal-flip augmentation",
    )
    p.add_argument(
        "--seed",
        type=whole_number(0, SEED_LIMIT - 1),
        help="seed of weights, data order and latents",
    )
    p.add_argument(
        "--save-every-min",
        type=real_number(0, above=True),
        help="minutes between checkpoints (default 10)",
    )
    p.add_argument(
        "--keep", type=whole_number(1), dest="keep_checkpoints", help="checkpoints kept (default 3)"
    )
    p.add_argument(
        "--log-every", type=whole_number(1), dest="log_every_steps", help="steps between logs"
    )
    p.add_argument(
        "--eval-images",
        type=count(0),
        help="images for the SWD/MS-SSIM evaluation at every phase end (default 256; 0 off)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend to train with (default $KERAS_BACKEND, else tensorflow); a run "
        "resumes under either",
    )
    p.add_argument(
        "--jit",
        nargs="?",
        const="on",
        choices=JIT_MODES,
        help="the TensorFlow step with XLA: on (--jit alone), off, or auto (default: time both "
        "on the first steps of every long phase and keep the faster); JAX always compiles",
    )
    p.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION_MODES,
        help="bf16 (CPUs with AVX512_BF16 or AMX, TPUs, recent GPUs), fp16 (GPUs), auto (bf16 "
        "on a CPU with AVX512_BF16 or AMX, float32 elsewhere), or off (a new run's default)",
    )
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        help="mirrored: every local GPU (JAX: every local device); multiworker: "
        "tf.distribute over the machines in TF_CONFIG",
    )
    return p


def config_from_args(args, argv: Sequence[str]) -> TrainConfig:
    """The run's settings: a new run's from the preset and flags, a resumed one's from its
    config.json with the flags that may change (numbers were range-checked while parsing)."""
    if args.eval_images == 1:  # SWD needs two images a side; a crash at the first phase end
        raise ProganError("--eval-images must be 0 (no phase-end evaluation) or at least 2, got 1")
    out = Path(args.out) if args.out else DEFAULT_OUT
    start_from, exported_stages = "", 0
    if args.from_export:
        if args.resume:
            raise ProganError("give --resume (the run in --out) or --from EXPORT, not both")
        if args.preset or args.base:
            raise ProganError("--from keeps the export's network; drop --preset and --base")
        cfg, start_from, exported_stages = exported_config(args.from_export)
        # Paths of the machine the export was trained on mean nothing here.
        cfg = dataclasses.replace(cfg, data_root=str(DATA_ROOT))
    elif args.resume:
        if not run_folder.has_config(out):
            raise ProganError(
                f"nothing to resume in {out}: no config.json (train without --resume)"
            )
        cfg = load_config(out)
        if args.labels and not cfg.labels:
            raise ProganError(
                f"the run in {out} is unconditional; --labels needs a new run (another --out)"
            )
    else:
        preset = PRESETS[args.preset or "cpu"]
        cfg = TrainConfig(
            out=str(out),
            preset=args.preset or "cpu",
            network=preset.network,
            schedule=preset.schedule,
        )
    changes = {}
    for name in (
        "data",
        "data_root",
        "seed",
        "save_every_min",
        "keep_checkpoints",
        "log_every_steps",
        "eval_images",
        "mixed_precision",
        "strategy",
        "flip",
        "jit",
        "labels",
    ):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    network = cfg.network
    if args.channels:
        if args.resume:
            raise ProganError("--channels shapes a new network; drop it with --resume")
        wider = network.with_first_channels(parse_positive_ints("--channels", args.channels))
        kept = network.channels[:exported_stages]
        why = widen.check_widths(kept, wider.channels[:exported_stages])
        if why:
            raise ProganError(
                f"--channels may widen the export's {exported_stages} stages "
                f"({','.join(map(str, kept))}) to whole multiples and set the stages it grows: "
                f"{why}"
            )
        network = wider
    if args.noise_inputs is not None:
        flag = "--noise-inputs" if args.noise_inputs else "--no-noise-inputs"
        if args.resume:
            raise ProganError(f"{flag} shapes a new network; drop it with --resume")
        if start_from and network.noise_inputs and not args.noise_inputs:
            raise ProganError(
                f"{start_from} has trained noise inputs; --no-noise-inputs cannot remove them"
            )
        network = dataclasses.replace(network, noise_inputs=args.noise_inputs)
    if args.image_channels:
        if args.resume or start_from:
            raise ProganError(
                "--image-channels shapes a new network; drop it with --resume or --from"
            )
        changes["image_channels"] = args.image_channels
    if args.label_entry:
        if args.resume or start_from:
            raise ProganError("--label-entry shapes a new network; drop it with --resume or --from")
        if not changes.get("labels"):
            raise ProganError("--label-entry says where the class enters G; add --labels")
        network = dataclasses.replace(network, label_entry=args.label_entry)
    if args.max_res:
        changes["max_res"] = parse_res(args.max_res)
        if args.resume and cfg.schedule.final_kimg and changes["max_res"] != cfg.max_res:
            raise ProganError(
                f"the run in {out} trained on at its top stage (--final-kimg); grow it with "
                f"--from {out} --out NEW --max-res {args.max_res} instead"
            )
    max_res = changes.get("max_res", cfg.max_res)
    if start_from and stage_index(cfg.network.base, max_res) + 1 < exported_stages:
        top = format_res(stage_shapes(cfg.network.base, exported_stages)[-1])
        raise ProganError(
            f"--max-res {format_res(max_res)} is below {start_from}'s top stage {top}; "
            f"--from trains on from there: give --max-res {top} or more"
        )
    if args.base:
        base = parse_res(args.base)
    elif args.resume or start_from:
        base = cfg.network.base
    else:
        base = base_for(max_res)
    schedule = {}
    if args.kimg_per_phase is not None and args.epochs_per_res is not None:
        raise ProganError("give --kimg-per-phase or --epochs-per-res, not both")
    if args.kimg_per_phase is not None:
        schedule.update(kimg_per_phase=args.kimg_per_phase, epochs_per_res=None)
    if args.epochs_per_res is not None:
        schedule["epochs_per_res"] = args.epochs_per_res
    if args.final_kimg is not None:
        schedule["final_kimg"] = args.final_kimg
    if args.final_lr is not None:
        schedule["final_lr"] = args.final_lr
    if schedule.get("final_lr", cfg.schedule.final_lr) and not schedule.get(
        "final_kimg", cfg.schedule.final_kimg
    ):
        raise ProganError("--final-lr needs --final-kimg: it sets the rate of the final training")
    if args.ema_kimg is not None:
        schedule["ema_kimg"] = args.ema_kimg
    if args.n_critic is not None:
        schedule["n_critic"] = args.n_critic
    if args.batch_sizes:
        given = parse_positive_ints("--batch-sizes", args.batch_sizes)
        schedule["batch_sizes"] = given + cfg.schedule.batch_sizes[len(given) :]
    loss = cfg.loss
    if args.loss is not None:
        loss = dataclasses.replace(loss, kind=args.loss)
    if args.r1_gamma is not None:
        loss = dataclasses.replace(loss, r1_gamma=args.r1_gamma)
    if args.augment is not None:
        changes["augment"] = parse_augment(args.augment)
    if args.color_curriculum is not None:
        text = args.color_curriculum.strip()
        changes["color_curriculum"] = (
            () if text == "none" else parse_positive_ints("--color-curriculum", text)
        )
    optimizer = cfg.optimizer
    if args.lr is not None:
        optimizer = dataclasses.replace(optimizer, learning_rate=args.lr)
    # Workers save one after another; with one checkpoint kept, a worker dying mid-save leaves
    # no step that every worker holds.
    keep = changes.get("keep_checkpoints", cfg.keep_checkpoints)
    if changes.get("strategy", cfg.strategy) == "multiworker" and keep < 2:
        raise ProganError("--strategy multiworker needs --keep 2 or more (a common checkpoint)")
    command = " ".join(shlex.quote(a) for a in ["python", "train.py", *argv])
    return dataclasses.replace(
        cfg,
        **changes,
        out=str(out),  # a run folder may have moved since it was started
        resume=args.resume,
        start_from=start_from,
        network=network.with_base(base),
        schedule=dataclasses.replace(cfg.schedule, **schedule),
        optimizer=optimizer,
        loss=loss,
        command=f"{cfg.command}; {command}" if args.resume or start_from else command,
    )


def parse_augment(text: str) -> tuple[str, ...]:
    """``'translation,cutout'`` -> the policies; ``'none'`` -> none."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if names == ("none",):
        return ()
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if not names or unknown:
        raise ProganError(
            f"--augment {text!r}: give {', '.join(AUGMENTATIONS)} (comma-separated) or none"
        )
    return names


def parse_positive_ints(flag: str, text: str) -> tuple[int, ...]:
    """``'64,32'`` -> (64, 32), for the first stages; the preset gives the rest."""
    try:
        given = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ProganError(f"{flag} {text!r} must be comma-separated integers") from None
    if not given or min(given) < 1:
        raise ProganError(f"{flag} needs positive integers, e.g. 64,64,32")
    return given


def exported_config(path: str) -> tuple[TrainConfig, str, int]:
    """The settings of the run that wrote the export at ``path``, the export's folder and how
    many stages it has."""
    from progan.export import MODEL_JSON, resolve_export_dir, training_state_path

    folder = resolve_export_dir(path).resolve()
    meta = json.loads((folder / MODEL_JSON).read_text())
    training = meta.get("training")
    if not training:
        raise ProganError(
            f"{folder} holds no training state (an export from before --from existed, or "
            "render-only); continue its run folder with --resume instead"
        )
    training_state_path(folder)  # before the data set is built, not after
    return TrainConfig.from_dict(training["config"]), str(folder), int(meta["stages"])


def load_config(run: Path) -> TrainConfig:
    """The settings a run was started with (its config.json), as dataclasses again."""
    return TrainConfig.from_dict(run_folder.read_config(run))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for chatty in ("tensorflow", "absl"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if backend.select(args.backend) == "tensorflow":
        import_tensorflow()
    from progan.cluster import worker_lost
    from progan.trainer import Trainer

    with worker_lost(cfg.strategy, cfg.out):
        trainer = Trainer(cfg)
        print(
            f"training {trainer.source.name} ({len(trainer.cache)} images) up to "
            f"{format_res(cfg.max_res)} from {format_res(cfg.network.base)} in {cfg.out}",
            file=sys.stderr,
        )
        try:
            export = trainer.train()
        except KeyboardInterrupt as stop:
            print(f"{stop}; continue with: {resume_command(cfg.out)}", file=sys.stderr)
            return 130
    print(f"done: {export}", file=sys.stderr)
    return 0
