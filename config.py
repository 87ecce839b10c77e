"""Every setting of ProGAN Studio in one place: network and training presets, colors, limits.

Modules take these dataclasses as arguments instead of reading globals, so a test can build a
tiny network or a one-minute schedule without touching the presets a user trains with.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

Shape = tuple[int, int]

REPO_ROOT = Path(__file__).resolve().parent
# Installed with pip (not in a checkout), the checkout's templates, static files and shipped
# models live here instead (pyproject.toml's data files).
INSTALLED_SHARE = Path(sys.prefix) / "share" / "progan-studio"
IN_CHECKOUT = (REPO_ROOT / "progan").is_dir() and (REPO_ROOT / "templates").is_dir()
SHARE_ROOT = REPO_ROOT if IN_CHECKOUT else INSTALLED_SHARE
# Generated and downloaded data sets and the per-stage caches (git-ignored in a checkout; in
# the user's home when installed, never inside site-packages).
DATA_ROOT = REPO_ROOT / "data" if IN_CHECKOUT else Path.home() / ".progan-studio" / "data"
# The shipped default model, laid out like a run folder: export/ (weights, model.json,
# prototypes.json) beside its README, sample grid, GIF and metrics.
DEFAULT_MODEL_DIR = SHARE_ROOT / "checkpoints"


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of G and D: base resolution, latent size and feature maps per stage."""

    base: Shape = (4, 4)
    latent_dim: int = 512
    # Feature maps of stage k are channels[k]; the table is long enough for the largest target
    # either preset supports (1024x1024 from 4x4, 1280x768 from 5x3: nine stages).
    channels: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64, 32, 16)
    mbstd_group: int = 4
    leaky_slope: float = 0.2
    # Class names of a conditional model, in label-index order; empty for an unconditional one.
    # G joins a learned embedding of the class to the latent, D adds a projection term.
    classes: tuple[str, ...] = ()
    # Where a conditional G takes its class (one of LABEL_ENTRIES): "latent" joins the embedding
    # to the latent, so the class can change the whole item; "rgb" gives every stage one toRGB
    # per class, so the features, and with them the item's shape, come from the latent alone
    # and the class only decides how they turn into color.
    label_entry: str = "latent"
    # Noise inputs after every conv of the stages above the base (StyleGAN's, drawn from the
    # latent: progan.generator.NoiseInput), for random fine detail; off in the paper's network.
    noise_inputs: bool = False
    # Channels of the images G draws and D reads: 1 for grey data, 3 for colored.
    image_channels: int = 3

    @property
    def max_stages(self) -> int:
        return len(self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def with_base(self, base: Shape) -> NetworkConfig:
        return dataclasses.replace(self, base=tuple(base))

    def with_first_channels(self, given: tuple[int, ...]) -> NetworkConfig:
        """``given`` feature maps for the first stages, this table's for the rest."""
        return dataclasses.replace(self, channels=given + self.channels[len(given) :])


LABEL_ENTRIES: tuple[str, ...] = ("latent", "rgb")
# --image-channels: "auto" trains 1 channel when every image of the data is grey, else 3.
IMAGE_CHANNELS: tuple[str, ...] = ("auto", "1", "3")
JIT_MODES: tuple[str, ...] = ("off", "on", "auto")
MIXED_PRECISION_MODES: tuple[str, ...] = ("off", "bf16", "fp16", "auto")
LOSSES: tuple[str, ...] = ("wgan-gp", "logistic-r1")
# DiffAugment's policies without color (progan.augment): color augmentation fights color control.
AUGMENTATIONS: tuple[str, ...] = ("translation", "cutout")


@dataclass(frozen=True)
class LossConfig:
    """WGAN-GP with the paper's drift term, or the non-saturating logistic loss with a lazy R1
    penalty on the reals (Mescheder et al. 2018; lazy as in StyleGAN2), which needs no
    mixed-image pass and no penalty on fakes."""

    kind: str = "wgan-gp"
    gp_lambda: float = 10.0
    gp_target: float = 1.0
    drift: float = 0.001
    r1_gamma: float = 1.0
    # R1 is applied on one training step in this many, its weight multiplied by as much, and
    # the critic's Adam runs at lr·c and β**c with c = k/(k+1) (StyleGAN2's lazy regularisation).
    r1_every: int = 16


@dataclass(frozen=True)
class OptimizerConfig:
    """Adam as in the paper; the state is reset at every phase start (official behaviour)."""

    learning_rate: float = 1e-3
    beta_1: float = 0.0
    beta_2: float = 0.99
    epsilon: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """How long each phase lasts and how many images a step takes at each stage."""

    kimg_per_phase: float = 600.0
    # When set, a phase lasts this many epochs of the data set / 2, so that a stage (fade-in
    # plus stabilize) sees the data ``epochs_per_res`` times, as the laundry project counted.
    epochs_per_res: float | None = None
    batch_sizes: tuple[int, ...] = (16, 16, 16, 16, 16, 16, 8, 4, 4)
    n_critic: int = 1
    # Thousands of images trained at the top stage after its stabilize phase (the official code
    # trains on there until total_kimg), in chunks of one phase that each end with an export.
    final_kimg: float = 0.0
    # Adam's learning rate at the last chunk of that final training: the chunks step down
    # geometrically from the optimizer's rate, reaching this one at the last (counted from the
    # stabilize phase's end, so a resume or a --from lands on the same rates). Lowering the rate
    # after the plateau at 1e-3 is what took the shipped model's SWD average from 14.6 to 9.4.
    # None keeps the optimizer's rate throughout.
    final_lr: float | None = None
    # Half-life of G's exponential moving average, in thousands of images. The paper's β 0.999
    # per step of 16 images is a half-life of 11.08 kimg; the β of a step is derived from this
    # and the stage's batch, so the average spans the same number of images at any batch size.
    ema_kimg: float = 11.08
    # A variable new in a fade-in (the new block and toRGB) averages over this share of the
    # images it has been trained on, up to ``ema_kimg``: an average over its whole life would
    # keep a share of its random start, which at a fade-in's end showed as a color cast.
    ema_rampup: float = 0.05


@dataclass(frozen=True)
class Preset:
    network: NetworkConfig
    schedule: ScheduleConfig


PRESETS: dict[str, Preset] = {
    # The paper's networks and schedule (latent 512, 512 maps up to 32 px, 600 kimg per phase).
    "paper": Preset(network=NetworkConfig(), schedule=ScheduleConfig()),
    # Small enough that a 2-core CPU reaches 80x48 in a few hours. Noise inputs: closer to the
    # data at equal kimg and equal minutes in bench/quality_budget.py (docs/quality_budget.md).
    "cpu": Preset(
        network=NetworkConfig(
            base=(3, 5),
            latent_dim=128,
            channels=(128, 128, 128, 64, 32, 16, 16, 16, 16),
            noise_inputs=True,
        ),
        # Phases of tens of kimg (not the paper's 600) need an EMA that keeps up: 2.5 kimg.
        schedule=ScheduleConfig(
            kimg_per_phase=20.0, batch_sizes=(64, 64, 32, 32, 16, 16, 8, 4, 4), ema_kimg=2.5
        ),
    ),
}


@dataclass
class TrainConfig:
    """One training run: what the flags of ``train.py`` set, with the preset's defaults."""

    out: str
    data: str = "laundry"
    # Where named data sets are generated and per-stage caches are kept.
    data_root: str = str(DATA_ROOT)
    preset: str = "cpu"
    network: NetworkConfig = field(default_factory=lambda: PRESETS["cpu"].network)
    schedule: ScheduleConfig = field(default_factory=lambda: PRESETS["cpu"].schedule)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    max_res: Shape = (48, 80)
    # Train on the data's class labels (labels.csv or one subfolder per class): a conditional
    # G and a projection D, with class-balanced batches. The names land in ``network.classes``.
    labels: bool = False
    # One of IMAGE_CHANNELS; the channel count trained lands in ``network.image_channels``.
    image_channels: str = "auto"
    # DiffAugment policies applied to every image the critic sees ("translation", "cutout").
    augment: tuple[str, ...] = ()
    # Colors per image of a color curriculum (Huang & Brady), e.g. (2, 3, 4, 5, 10, 20): the
    # reals are quantized by k-means to each K in turn over equal shares of the run, then full.
    color_curriculum: tuple[int, ...] = ()
    flip: bool = True
    seed: int = 0
    save_every_min: float = 10.0
    keep_checkpoints: int = 3
    log_every_steps: int = 20
    grid_size: Shape = (4, 8)
    # Images for the SWD / MS-SSIM evaluation at every phase end (0: none).
    eval_images: int = 256
    # The TensorFlow step with XLA (one of JIT_MODES): "auto" times both on the first steps of
    # every phase long enough to pay for a second compilation, and keeps the faster.
    jit: str = "auto"
    # One of MIXED_PRECISION_MODES: "auto" trains in bf16 on a CPU with native bfloat16 (AMX,
    # AVX512_BF16) and in float32 elsewhere (progan.training_step.resolve_mixed_precision).
    # float32 by default, the paper's arithmetic and the shipped model's; bf16 measured the same
    # at 40x24 and, in a paired float32 branch, at 160x96 within one run's own swing.
    mixed_precision: str = "off"
    strategy: str = "default"
    resume: bool = False
    # An export whose training state (G, D, EMA G, counters) this run starts from, on any
    # machine (train.py --from); empty for a run from scratch.
    start_from: str = ""
    command: str = ""

    def to_dict(self) -> dict:
        """What a run's ``config.json`` holds (:func:`progan.run_folder.write_config`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """:meth:`to_dict` read back as dataclasses (JSON's lists become tuples again)."""
        data = dict(data)
        network = data.pop("network")
        jit = data.get("jit", False)
        schedule = data.pop("schedule")
        return cls(
            **data
            | {
                "max_res": tuple(data["max_res"]),
                "grid_size": tuple(data["grid_size"]),
                "loss": LossConfig(**data["loss"]),
                "augment": tuple(data.get("augment", ())),
                "color_curriculum": tuple(data.get("color_curriculum", ())),
                "optimizer": OptimizerConfig(**data["optimizer"]),
                # Runs from before "auto" saved jit as a boolean.
                "jit": {True: "on", False: "off"}.get(jit, jit),
            },
            network=NetworkConfig(
                **network
                | {
                    "base": tuple(network["base"]),
                    "channels": tuple(network["channels"]),
                    "classes": tuple(network.get("classes", ())),
                }
            ),
            schedule=ScheduleConfig(**schedule | {"batch_sizes": tuple(schedule["batch_sizes"])}),
        )


@dataclass(frozen=True)
class CycleGANConfig:
    """An unpaired translator (Zhu et al. 2017) from original laundry photos to one color.

    The paper's sizes are 64 filters and 9 residual blocks at 256x256; the defaults are sized
    for two CPU cores (``--paper-sizes`` restores them). ``curriculum`` grows the colors of
    both domains (Huang & Brady): ``curriculum_iterations`` at each K in turn, then full color.
    """

    out: str
    data_root: str = str(DATA_ROOT)
    # Domain B: the mask-based recolor of the laundry photos in this color.
    color: str = "red"
    res: Shape = (96, 160)
    filters: int = 16
    blocks: int = 3
    critic_filters: int = 16
    # PatchGAN: stride-2 layers before the stride-1 one (3 gives the paper's 70×70 receptive
    # field).
    critic_layers: int = 3
    iterations: int = 6000
    # The learning rate is constant for this share of the iterations, then falls linearly to 0.
    decay_from: float = 0.5
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    cycle_weight: float = 10.0
    # The identity loss's weight, as a share of ``cycle_weight`` (the paper's 0.5).
    identity_share: float = 0.5
    pool_size: int = 50
    batch_size: int = 1
    curriculum: tuple[int, ...] = ()
    curriculum_iterations: int = 500
    # Photos per domain; A and B come from disjoint halves of the training photos, and the
    # held-out photos after both are the evaluation set.
    domain_images: int = 500
    test_images: int = 200
    seed: int = 0
    save_every_min: float = 10.0
    log_every: int = 100
    resume: bool = False


@dataclass(frozen=True)
class SegmenterConfig:
    """The cloth segmenter: a small U-Net that finds the laundry in a belt photo, so recoloring
    needs no hand-drawn mask (``python -m progan.segment``).

    ``res`` is the working resolution (height, width) every photo is shrunk to; the soft mask
    at the photo's own size comes from the guided upsampling (``refine_radius`` in pixels of
    ``res``, ``refine_eps`` the color variance that counts as an edge, ``refine_band`` how
    soft its edge stays). ``held_out`` photos at the end of the data (at most a fifth) are
    never trained on and measured (IoU) at every epoch end.
    """

    out: str
    # A laundry folder (images/ and masks/), a named set (laundry), or a folder of photos with
    # ``masks`` naming the folder of their masks.
    data: str = "laundry"
    masks: str | None = None
    data_root: str = str(DATA_ROOT)
    res: Shape = (144, 256)
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    epochs: int = 12
    batch_size: int = 8
    learning_rate: float = 1e-3
    held_out: int = 100
    seed: int = 0
    # Start from this segmenter export's weights (fine-tuning on a user's own masks).
    init_from: str | None = None
    # Augmentation: zoom by up to this factor either way, rotations, lamp and camera changes.
    max_zoom: float = 1.25
    max_rotation_deg: float = 5.0
    brightness: tuple[float, float] = (0.55, 1.3)
    contrast: tuple[float, float] = (0.7, 1.3)
    white_balance: float = 0.12
    blur_share: float = 0.3
    max_blur_sigma: float = 1.2
    jpeg_share: float = 0.5
    min_jpeg_quality: int = 40
    refine_radius: int = 2
    refine_eps: float = 1e-3
    # The refined mask's values within 0.5 ± band/2 are spread over [0, 1] (1: left as is).
    refine_band: float = 0.5
    # A photo whose predicted cloth covers less than this share holds no cloth.
    min_cloth_share: float = 0.002
    save_every_min: float = 5.0
    resume: bool = False


# Colors of the studio and the latent tools: names, and hues in [0, 1) for recoloring.
# "original" means no color shift; "white" has no hue (saturation is cut and the cloth lifted to
# white instead, see RecolorConfig).
COLOR_HUES: dict[str, float | None] = {"red": 0.0, "green": 1 / 3, "blue": 2 / 3, "white": None}
COLORS: tuple[str, ...] = ("original", *COLOR_HUES)


@dataclass(frozen=True)
class ColorClassifierConfig:
    """Thresholds of the pixel color classifier in :mod:`progan.colors` (shares are fractions).

    A generated image has no mask, so laundry is told from the belt by its pixels alone: the belt
    is grey (low saturation) and never bright, laundry is either saturated or bright. A pixel is
    *colored* when saturated and not dark (the hue of dark pixels is noise), *white* when bright
    and nearly unsaturated; everything else is belt or shadow and is ignored. On the procedural
    laundry set at 80x48, 99% of belt pixels stay below value 0.67 (median saturation 0.04),
    which is what ``white_min_value`` clears.
    """

    # Colored pixel: saturation and value at least these; its hue must lie within
    # ``hue_half_width`` of a color's hue (``COLOR_HUES``), else it is laundry of no class.
    colored_min_saturation: float = 0.4
    colored_min_value: float = 0.25
    hue_half_width: float = 1 / 12
    # White pixel: value at least, saturation at most.
    white_min_value: float = 0.7
    white_max_saturation: float = 0.2
    # Fewer laundry pixels than this share of the image: nothing to classify ('none').
    min_laundry_share: float = 0.02
    # The winning class needs this share of the laundry pixels and this many times the share
    # of the runner-up; otherwise no color dominates ('none').
    min_share: float = 0.5
    dominance: float = 2.0


@dataclass(frozen=True)
class LatentLimits:
    """Bounds the command line and the studio both enforce on seeds and animations."""

    min_frames: int = 2
    max_frames: int = 120
    # GIF delays are stored in hundredths of a second; browsers slow delays under 20 ms down.
    min_delay_ms: int = 20
    max_delay_ms: int = 2000
    # Most seeds one request may render (a grid, or one file each).
    max_seeds: int = 256


@dataclass(frozen=True)
class StudioLimits:
    """How the studio keeps costly renders from starving the cheap routes.

    A render of more than ``heavy_pixels`` (frames × width × height) is heavy; at most
    ``heavy_slots`` run at once, so with the default four server threads two are always left
    for pages, ``/healthz``, ``/api/model`` and single images. A heavy request beyond that is
    answered at once with 503 and ``Retry-After``, not queued.
    """

    heavy_pixels: int = 8 * 80 * 48  # eight frames at 80x48
    heavy_slots: int = 2
    retry_after_s: int = 2
    # Recent responses kept in memory by their ETag, so a picture asked for again (another
    # client, a shared link) costs no render.
    cache_bytes: int = 64 * 2**20
    # An uploaded photo for the recolor page: at most this many bytes and pixels (a camera's
    # 1280x720 frame is 0.9 MP; the pixel cap stops decompression bombs), JPEG or PNG.
    upload_bytes: int = 16 * 2**20
    upload_pixels: int = 40_000_000


@dataclass(frozen=True)
class PrototypeConfig:
    """How ``python -m progan prototypes`` samples latents and measures the color shift."""

    n: int = 100
    # Stop sampling after this many seeds even if a color has fewer than ``n`` latents.
    max_samples: int = 5000
    success_seeds: int = 500
    # The success rate is measured on seeds from here on: far from the sampled seeds 0, 1, ...,
    # so the shift is judged on latents that did not build the prototypes.
    success_seed_start: int = 2**31


@dataclass(frozen=True)
class ColorEvaluationConfig:
    """What ``python -m progan evaluate`` measures of a model's colors, on both kinds of model.

    Every seed is rendered in each color: *accuracy* is the share the classifier names that
    color; an image is *multi-colored* when the two largest color classes of its laundry pixels
    each hold at least ``multicolor_min_share`` of them (a red item with a white half counts,
    a red item with thin white stripes does not); *shape SSIM* is the SSIM of the luminance of
    one seed in two colors (original included), averaged over all pairs and seeds.
    """

    seeds: int = 500
    # The same seeds as the color-shift success rate (PrototypeConfig.success_seed_start).
    seed_start: int = 2**31
    multicolor_min_share: float = 0.2


@dataclass(frozen=True)
class KindClassifierConfig:
    """The classifier ``python -m progan evaluate`` trains on a laundry set's photos to say which
    kinds of item (towel, sheet, pillowcase, shirt, trousers) an image shows (``progan.kinds``).

    It looks at ``res`` or the model's resolution if lower: whole items, not their texture, tell
    the kinds apart, and a shirt's sleeves are still several pixels wide at 80x48. One photo in
    ``held_out_every`` is kept out of training (with all its recolored copies) to measure it.
    """

    res: Shape = (48, 80)
    channels: tuple[int, ...] = (32, 64, 128, 128)
    # Training augmentation: random flips, shifts by up to these fractions of (height, width),
    # dropout before the last layer. On laundry-recolored at 80x48, held-out kind calls right:
    # 72 % without them (99 % on the training photos), 75 % with them, 81 % with them and two
    # convolutions per width (66 % by calling each kind's majority).
    shift: tuple[float, float] = (0.15, 0.25)
    dropout: float = 0.3
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    held_out_every: int = 10
    seed: int = 0


# How an unconditional model is moved to a color: the prototype difference, InterFaceGAN's step
# along a fitted boundary's normal, or for each color whichever measured the higher success
# (``progan.colors``). A conditional model needs none of them. On the shipped 80x48 model the
# boundary wins red, green and blue (86/97/98 % against 80/84/88 %) and loses white (33 against
# 61 %): white is the absence of a hue, which one hyperplane does not capture; hence ``best``.
SHIFT_METHODS: tuple[str, ...] = ("prototype", "boundary", "best")
SHIFT_METHOD = "best"

COLOR_CLASSIFIER = ColorClassifierConfig()
COLOR_EVALUATION = ColorEvaluationConfig()
KIND_CLASSIFIER = KindClassifierConfig()
LATENT_LIMITS = LatentLimits()
STUDIO_LIMITS = StudioLimits()
PROTOTYPES = PrototypeConfig()


@dataclass(frozen=True)
class LaundryConfig:
    """The procedural laundry-belt data set that stands in for the laundry users' private photos.

    ``white_share`` follows the real data, where most items are white or light grey; the rest
    are colored, so a recolored copy and the color tools have both kinds to work on.
    """

    n: int = 2000
    seed: int = 0
    size: Shape = (720, 1280)
    max_items: int = 3
    white_share: float = 0.7
    pattern_share: float = 0.35


@dataclass(frozen=True)
class RecolorConfig:
    """Mask-based recoloring as the laundry project did it, with a white that is white.

    ``min_saturation`` lifts white or grey cloth, which has no hue of its own, far enough from
    grey that the target color shows. For the color white, ``white_factor`` scales saturation
    (a tenth leaves at most a tint) and the value is scaled so that the ``white_quantile`` of
    the cloth reaches ``white_value`` (never darker): dark cloth becomes white cloth with the
    same folds, since shading multiplies the cloth's own lightness.
    """

    min_saturation: float = 0.5
    white_factor: float = 0.1
    white_value: float = 0.9
    white_quantile: float = 0.9
