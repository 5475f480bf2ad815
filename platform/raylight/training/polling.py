"""The driver's one background poller: call a step every few seconds while a block runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# step(final) -> keep polling? `final` is True once, for the last call after the block ended.
PollStep = Callable[[bool], bool]


@contextmanager
def polling(step: PollStep, *, poll_s: float, name: str, join_timeout_s: float) -> Iterator[None]:
    """Run `step(False)` every `poll_s` seconds in a daemon thread while the block runs.

    When the block ends, the step runs once more with `final=True` (a tail that must not miss
    the last lines), unless it already asked to stop by returning False. The thread is a daemon
    and joined with a timeout: a poll stuck on Ray's state API never holds up the driver's exit.
    """
    stop = threading.Event()

    def run() -> None:
        while True:
            finished = stop.wait(poll_s)
            if not step(finished) or finished:
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join_timeout_s)
