"""A run's schedule: its phases (stage, fading or not, how many images), alpha along a
fade-in, the EMA's decay per step, and the color curriculum's steps.

Everything here is a pure function of counters, which is what lets ``--resume`` land mid
fade-in on the same alpha, and a test pin each rule without training.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    stage: int
    fading: bool
    images: int
    # Training on at the top stage after its stabilize phase (--final-kimg), in chunks of a
    # phase's length so that each ends with an export and an evaluation. Adam carries on into
    # and through them, as the official code keeps it while the level of detail stays put.
    final: bool = False

    @property
    def name(self) -> str:
        return "final" if self.final else "fade-in" if self.fading else "stabilize"


def plan_phases(num_stages: int, phase_images: int, final_images: int = 0) -> list[Phase]:
    phases = [Phase(0, False, phase_images)]
    for stage in range(1, num_stages):
        phases += [Phase(stage, True, phase_images), Phase(stage, False, phase_images)]
    top = num_stages - 1
    for start in range(0, final_images, phase_images):
        phases.append(Phase(top, False, min(phase_images, final_images - start), final=True))
    return phases


def curriculum_plan(ks: tuple[int, ...], total_images: int) -> list[tuple[int, int | None]]:
    """``(first image, K)`` of each step of a color curriculum, then ``(…, None)``: full color.

    Step i of n covers the (i+1)-th of n+1 equal shares of the run's images, so the colors
    grow across the phases and resolutions as the run goes (2,3,4,5,10,20 over a 9-phase run
    to 80x48: K=2 for the first 9/7 phases, …, full color from 54/7 on).
    """
    share = total_images / (len(ks) + 1)
    return [(round(i * share), k) for i, k in enumerate((*ks, None))]


def alpha_at(phase: Phase, images_in_phase: int) -> float:
    """Linear from 0 to 1 over a fade-in phase; 1 when stabilizing."""
    if not phase.fading:
        return 1.0
    return min(1.0, images_in_phase / phase.images)


def ema_beta(half_life_kimg: float, batch_size: int) -> float:
    """The per-step decay that halves an old weight's share after ``half_life_kimg`` kimg."""
    return 0.5 ** (batch_size / (half_life_kimg * 1000))
