"""Runs the programs of examples/ and checks what they print. Each example has one test module
(test_<example>.py). Programs are found in the build directory (PYROCPP_BUILD_DIR, default
build/); every wait is bounded."""
import os
import pathlib
import queue
import re
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PYROCPP_BUILD_DIR", ROOT / "build"))
PYTHON = "/usr/bin/python3"  # Debian's Pyro4 lives there


def program(example, name):
    """build/examples/<example>/<name>, failing the test when it is not built."""
    path = BUILD / "examples" / example / name
    if not path.exists():
        pytest.fail("%s is not built: build the project first (scripts/test.sh does)" % path)
    return str(path)


def source(example, name):
    return str(ROOT / "examples" / example / name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, timeout=60, input=None, env=None, check=True):
    """Runs a program to its end; returns (returncode, stdout, stderr) as text."""
    proc = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout,
                          env=env)
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc.returncode, proc.stdout, proc.stderr


class Background:
    """A program running while a test talks to it: expect() waits (bounded) for a line of its
    output; stop() ends it and returns everything it printed."""

    def __init__(self, args, env=None):
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern, timeout=20):
        """The first match of pattern in a line printed from now on (or already queued)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError("%s: no line matching %r within %ss; output so far:\n%s"
                             % (self.args[0], pattern, timeout, "\n".join(self.lines)))

    def output(self):
        """Everything printed so far (drains what is queued)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
        return "\n".join(self.lines)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.output()

    def wait(self, timeout=30):
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.proc.returncode, self.output()


@pytest.fixture
def background():
    """background(args) starts a program; all of them are stopped after the test."""
    started = []

    def start(args, env=None):
        b = Background(args, env=env)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()
