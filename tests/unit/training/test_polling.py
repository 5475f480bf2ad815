"""The driver's background poller: steps while the block runs, one final step, stops on False."""

from __future__ import annotations

import threading

from raylight.training.polling import polling


def test_the_step_runs_while_the_block_runs_and_once_more_at_the_end() -> None:
    calls: list[bool] = []
    polled = threading.Event()

    def step(final: bool) -> bool:
        calls.append(final)
        polled.set()
        return True

    with polling(step, poll_s=0.01, name="test", join_timeout_s=5):
        assert polled.wait(5)
    assert calls[-1] is True and calls.count(True) == 1
    assert all(final is False for final in calls[:-1]) and len(calls) >= 2


def test_a_step_that_returns_false_is_not_called_again() -> None:
    calls: list[bool] = []
    stopped = threading.Event()

    def step(final: bool) -> bool:
        calls.append(final)
        stopped.set()
        return False

    with polling(step, poll_s=0.01, name="test", join_timeout_s=5):
        assert stopped.wait(5)
    assert calls == [False]
