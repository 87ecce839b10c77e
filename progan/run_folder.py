"""A training run's folder, for every trainer of the project (ProGAN, CycleGAN, the segmenter):
the one place that names what it holds and writes and reads its settings and its log.

    RUN/config.json     the settings the run was started with (what --resume reads back)
    RUN/metrics.jsonl   one JSON object a line: a phase end, an epoch, a logged iteration
    RUN/checkpoints/    ckpt-STEP.npz (progan.checkpoints), the newest few
    RUN/export/         what the run made, for the CLI and the studio
    RUN/latest/         ProGAN's render-only export of its last save
    RUN/samples/        ProGAN's sample grid at every phase end
    RUN/tb/             TensorBoard's scalars
    RUN/workers/N/      checkpoints of worker N of a multi-worker run (the chief's are RUN's)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from progan import checkpoints, files
from progan.errors import ProganError

CONFIG_JSON = "config.json"
METRICS_JSONL = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
EXPORT = "export"
LATEST = "latest"
SAMPLES = "samples"
TENSORBOARD = "tb"
WORKERS = "workers"


def write_config(run: Path, settings: dict[str, Any]) -> Path:
    """``settings`` (a config dataclass as a dict) as the run's ``config.json``, atomically."""
    return files.write_json(Path(run) / CONFIG_JSON, settings, indent=2)


def has_config(run: str | Path) -> bool:
    return (Path(run) / CONFIG_JSON).is_file()


def read_config(run: str | Path) -> dict[str, Any]:
    """The settings in the run's ``config.json``; one line when there is none or it is damaged."""
    path = Path(run) / CONFIG_JSON
    if not path.is_file():
        raise ProganError(f"nothing to resume in {run}: it has no {CONFIG_JSON}")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ProganError(f"cannot read {path}: {err}") from err


def resumed_config(run: str | Path, given: list[str]) -> dict[str, Any]:
    """A resumed run's own settings, refusing flags that would change them (``given``: the
    shaping flags the command line named)."""
    if given:
        raise ProganError(f"the run in {run} has its own {', '.join(given)}; drop it")
    return read_config(run)


def saved_steps(run: Path, resume: bool) -> list[int]:
    """The checkpoints of the run (in its ``checkpoints/``), after refusing ``--resume`` of a
    folder that has none and a new run over one that has some."""
    saved = checkpoints.steps(run / CHECKPOINTS)
    if resume and not saved:
        raise ProganError(f"nothing to resume in {run}: it has no checkpoint")
    if not resume and saved:
        raise ProganError(
            f"{run} already holds a run; add --resume to continue it or pick another --out"
        )
    return saved


def log(run: Path, record: dict[str, Any]) -> None:
    """Append one record to the run's ``metrics.jsonl``."""
    with open(Path(run) / METRICS_JSONL, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def records(run: Path) -> list[dict]:
    """The run's log, without a line a crash cut off."""
    return checkpoints.read_log(Path(run) / METRICS_JSONL)


def trim_log(run: Path, keep: Callable[[dict], bool]) -> None:
    """Keep the records ``keep`` dates before the checkpoint a resume starts from."""
    checkpoints.trim_log(Path(run) / METRICS_JSONL, keep)
