"""The schedule's rules, each pinned: the phases, alpha, the EMA's decay, the color curriculum."""

import pytest

from progan.schedule import alpha_at, curriculum_plan, ema_beta, plan_phases


def test_schedule_and_alpha():
    phases = plan_phases(3, 100)
    assert [(p.stage, p.name) for p in phases] == [
        (0, "stabilize"),
        (1, "fade-in"),
        (1, "stabilize"),
        (2, "fade-in"),
        (2, "stabilize"),
    ]
    assert alpha_at(phases[1], 25) == 0.25 and alpha_at(phases[1], 150) == 1.0
    assert alpha_at(phases[2], 0) == 1.0


def test_ema_half_life_matches_the_paper_at_batch_16():
    assert ema_beta(11.08, 16) == pytest.approx(0.999, abs=2e-6)
    assert ema_beta(2.0, 64) ** (2000 / 64) == pytest.approx(0.5)


def test_final_training_is_chunks_of_a_phase_at_the_top_stage():
    phases = plan_phases(2, 48, 80)
    assert [(p.stage, p.name, p.images) for p in phases[3:]] == [(1, "final", 48), (1, "final", 32)]
    assert alpha_at(phases[3], 0) == 1.0


def test_color_curriculum_steps_share_the_run_evenly():
    assert curriculum_plan((2, 3, 4, 5, 10, 20), 700) == [
        (0, 2), (100, 3), (200, 4), (300, 5), (400, 10), (500, 20), (600, None)
    ]  # fmt: skip
