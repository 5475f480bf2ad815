"""Running the CLI as a subprocess: its own Ray, a head node, or a driver joining the test Ray.

Every process a test starts here leads a process group of its own (an embedded Ray it starts
joins that group), and a timeout or a failure kills the whole group: nothing outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process and everything in its group (its embedded Ray, its children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def group_alive(pgid: int) -> bool:
    """Whether any process of that process group is still alive."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def raylight(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `raylight ARGS` to the end; on timeout its whole process group is killed."""
    command = [sys.executable, "-m", "raylight", *args]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env or env_with(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        kill_group(process)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop_process(process: subprocess.Popen[str], timeout_s: float = 60) -> int:
    """SIGTERM, as Ctrl-C in a terminal or `kill` would; the process must exit by itself."""
    process.terminate()
    return process.wait(timeout=timeout_s)


class Background:
    """A CLI process in the background whose output is collected line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout_s: float) -> None:
        wait_for(
            lambda: text in self.output or self.process.poll() is not None,
            timeout_s,
            f"{text!r} from {self.process.args}",
        )
        assert text in self.output, self.output[-3000:]

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM the process (it must exit by itself in time), then end what is left."""
        try:
            code = stop_process(self.process, timeout_s)
        finally:
            self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL the process and its whole group; safe to call again."""
        kill_group(self.process)  # also what the process left behind in its group
        self._reader.join(timeout=10)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
