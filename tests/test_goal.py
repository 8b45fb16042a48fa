"""The goal tracker every generation loop shares: goal, failure streak, stall limit."""

from __future__ import annotations

import pytest

from mimicforge.errors import GenerationStalled
from mimicforge.goal import GoalTracker


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_goal_on_successes_counts_none_beyond_it():
    t = GoalTracker("out.hdf5", target=2, stop_on="successes", successes=1, attempts=4, max_consecutive_failures=5)
    t.record(False)
    assert not t.goal_reached() and t.summary.attempts == 5
    t.record(True)
    t.record(True)  # a parallel worker's extra success: the merge keeps only the goal's worth
    s = t.finish()
    assert (s.successes, s.new_successes, s.attempts, s.new_attempts, s.reached) == (2, 1, 7, 3, True)


def test_goal_on_attempts():
    t = GoalTracker("out.hdf5", target=2, stop_on="attempts", max_consecutive_failures=5)
    t.record(False)
    assert not t.goal_reached()
    t.record(False)
    assert t.goal_reached()


def test_failure_streak_resets_on_success_and_names_the_setting():
    t = GoalTracker("out.hdf5", target=9, stop_on="successes", max_consecutive_failures=2, where=" across 3 workers")
    t.record(False)
    t.record(True)
    t.record(False)
    t.check()
    t.record(False)
    with pytest.raises(GenerationStalled, match=r"^2 attempts in a row failed across 3 workers .*MAX_CONSECUTIVE"):
        t.check()


def test_stall_limit_counts_from_the_last_progress():
    clock = Clock()
    t = GoalTracker("out.hdf5", target=9, stop_on="successes", max_consecutive_failures=9, stall_timeout=10,
                    clock=clock)
    clock.now = 9.0
    t.record(True)
    clock.now = 18.0
    assert t.stalled() is None
    t.touch()  # e.g. a worker restarted
    clock.now = 28.5
    with pytest.raises(GenerationStalled, match=r"no generation attempt finished in 10 s .*STALL_TIMEOUT"):
        t.check()
