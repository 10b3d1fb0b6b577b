"""Shared plumbing of the Python tests that run a real perennial-server.

Used by tests/*_test.py and clients/python/tests/test_client.py (which puts ROOT/tests on
sys.path). Needs only the standard library and numpy; the Python client is imported through
import_client(), which regenerates its stubs first.

    import server_harness as h
    h.require_prerequisites("my_test")            # SkipTest locally, AssertionError when CI=true
    pc = h.import_client()
    server = h.ServerProcess(method="sit", flags=["--lr", "3e-3"])
    server.start()                                 # waits for "serving"; ports parsed from output
    client = pc.Client(server.grpc_target, timeout=60)
    ...
    server.kill()                                  # kill -9
    server.start()                                 # the same data directory again
    assert server.stop() == 0                      # SIGTERM: final checkpoint, exit status 0
    server.cleanup()                               # removes a data directory it created

Environment (paths absolute or relative to the repository root):
  PERENNIAL_SERVER_BIN   server binary (default build/bin/perennial-server)
  PERENNIAL_TEST_MODEL   weights to serve (default tests/fixtures/tiny_clip/openai_fp32.safetensors)
  CI                     when "true", a missing prerequisite fails a test instead of skipping it
"""
import ctypes
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_CLIENT_DIR = os.path.join(ROOT, "clients", "python")
SERVER_BIN = os.path.join(ROOT, os.environ.get("PERENNIAL_SERVER_BIN",
                                               "build/bin/perennial-server"))
MODEL = os.path.join(ROOT, os.environ.get("PERENNIAL_TEST_MODEL",
                                          "tests/fixtures/tiny_clip/openai_fp32.safetensors"))
IN_CI = os.environ.get("CI", "").lower() == "true"
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]
STARTUP_TIMEOUT_S = 120

_SPLIT_FILES = {"train": "train", "test": "t10k"}


# --- prerequisites -------------------------------------------------------------------------------

def missing_prerequisite(train_split=False):
    """Why a server test cannot run here (binary, model, Fashion-MNIST), or None.

    `train_split`: the Fashion-MNIST train files are needed too (not only t10k).
    """
    if not os.access(SERVER_BIN, os.X_OK):
        return ("server binary %s does not exist (build it: make build; or set "
                "PERENNIAL_SERVER_BIN)" % SERVER_BIN)
    if not os.path.exists(MODEL):
        return "model %s does not exist (set PERENNIAL_TEST_MODEL)" % MODEL
    for split in ("train", "test") if train_split else ("test",):
        if not os.path.exists(_fashion_mnist_path(split, "images")):
            return "%s is missing (Debian package dataset-fashion-mnist)" % FASHION_MNIST
    return None


def skip_or_fail(test_name, why):
    """Reports `why` on stderr, then skips the test (raises SkipTest), or fails it under CI=true."""
    if why is None:
        return
    print("%s: %s" % (test_name, why), file=sys.stderr)
    if IN_CI:
        raise AssertionError("CI=true and %s cannot run: %s" % (test_name, why))
    raise unittest.SkipTest(why)


def require_prerequisites(test_name, train_split=False):
    """missing_prerequisite() through skip_or_fail(): call it first in setUpClass."""
    skip_or_fail(test_name, missing_prerequisite(train_split))


def import_client():
    """Regenerates the gRPC stubs (clients/python/generate.sh) and returns perennial_client."""
    subprocess.run([os.path.join(PYTHON_CLIENT_DIR, "generate.sh")], check=True)
    if PYTHON_CLIENT_DIR not in sys.path:
        sys.path.insert(0, PYTHON_CLIENT_DIR)
    import perennial_client
    return perennial_client


# --- Fashion-MNIST -------------------------------------------------------------------------------

def _fashion_mnist_path(split, kind):
    if split not in _SPLIT_FILES:
        raise ValueError("Fashion-MNIST split is 'train' or 'test', not %r" % split)
    suffix = "images-idx3-ubyte.gz" if kind == "images" else "labels-idx1-ubyte.gz"
    return os.path.join(FASHION_MNIST, "%s-%s" % (_SPLIT_FILES[split], suffix))


def fashion_mnist_labels(split="test", count=None):
    """Class indices (numpy uint8) of the first `count` (None: all) images of `split`."""
    import numpy as np
    with gzip.open(_fashion_mnist_path(split, "labels")) as f:
        data = f.read() if count is None else f.read(8 + count)
    return np.frombuffer(data[8:], dtype=np.uint8)


def fashion_mnist(count=None, split="test", indices=None):
    """Images (numpy uint8 [N, 28, 28]) and their class names from Debian's dataset package.

    Either the first `count` images of `split` ("train" or "test"), or those at `indices`
    (in that order; repeats allowed). Only the file prefix that is needed is decompressed.
    """
    import numpy as np
    if (count is None) == (indices is None):
        raise ValueError("give either count or indices")
    indices = list(range(count)) if indices is None else [int(i) for i in indices]
    needed = max(indices) + 1 if indices else 0
    with gzip.open(_fashion_mnist_path(split, "images")) as f:
        data = f.read(16 + needed * 784)
    images = np.frombuffer(data[16:], dtype=np.uint8)
    if images.size != needed * 784:
        raise ValueError("Fashion-MNIST %s has fewer than %d images" % (split, needed))
    images = images.reshape(needed, 28, 28)
    labels = fashion_mnist_labels(split, needed)
    return images[indices], [CLASSES[labels[i]] for i in indices]


# --- processes -----------------------------------------------------------------------------------

def free_port():
    """A loopback port free right now (for programs that cannot be told to pick one themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In the child: SIGTERM it when this test process dies, even by SIGKILL (ctest timeout)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Child:
    """A subprocess whose output is collected by a thread; `on_line` sees every line."""

    def __init__(self, name, argv, on_line=None):
        self.name = name
        self.log = []
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True,
                                        preexec_fn=_die_with_parent)
        self.exited = threading.Event()

        def read_output():
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                if on_line:
                    on_line(line)
            self.exited.set()

        self.reader = threading.Thread(target=read_output, daemon=True)
        self.reader.start()

    def running(self):
        return self.process.poll() is None

    def _reap(self):
        self.reader.join(timeout=5)
        if not self.reader.is_alive():
            self.process.stdout.close()
        return self.process.returncode

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self._reap()

    def kill(self):
        """SIGKILL (kill -9) and wait; returns the exit status (-9 unless it had exited)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        return self._reap()

    def tail(self, lines=30):
        return "%s output (last %d lines):\n%s" % (self.name, lines, "\n".join(self.log[-lines:]))


class ServerProcess:
    """perennial-server on free loopback ports (the server picks them: --listen 127.0.0.1:0).

    `method` is passed as --method, `flags` (a list of strings) after the standard ones.
    `data_dir`: an existing directory to use (kept by cleanup()); None: a temporary one, created
    here and removed by cleanup(). start() may be called again after stop() or kill(): the new
    process uses the same data directory, i.e. it restarts from what the last one left.
    """

    def __init__(self, method="frozen", flags=(), data_dir=None, name="perennial-server",
                 threads=1):
        self.method = method
        self.flags = list(flags)
        self.threads = threads
        self.name = name
        self.owns_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="perennial_test_")
        self.child = None
        self.grpc_port = self.metrics_port = None
        self.logs = []  # output of every process started, oldest first (the live one last)

    @property
    def grpc_target(self):
        return "127.0.0.1:%d" % self.grpc_port

    @property
    def log(self):
        """Output lines of the current (or last) process."""
        return self.child.log if self.child else []

    def argv(self):
        # The learner runs at normal priority (the server nices it by default so that queries
        # come first): niced, it starves whenever ctest runs other servers beside this one, and
        # tests that wait for learning time out. `flags` can set --learner-nice again.
        return [SERVER_BIN, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                "--data-dir", self.data_dir, "--model", MODEL, "--threads", str(self.threads),
                "--method", self.method, "--learner-nice", "0"] + self.flags

    def start(self, timeout=STARTUP_TIMEOUT_S):
        """Starts a process and waits until it prints "serving"; returns self.

        Raises AssertionError (with the output) when it exits or does not serve in time.
        """
        if self.child is not None and self.child.running():
            raise AssertionError("%s is already running" % self.name)
        ports = {}
        serving = threading.Event()

        def on_line(line):
            # "perennial-server: gRPC on 127.0.0.1:P, metrics on http://127.0.0.1:Q/metrics, ..."
            match = re.search(r"gRPC on [^ ,]+:(\d+)", line)
            if match:
                ports["grpc"] = int(match.group(1))
            match = re.search(r"metrics on http://[^ ]+:(\d+)/metrics", line)
            if match:
                ports["metrics"] = int(match.group(1))
            if line.startswith("serving"):
                serving.set()

        self.grpc_port = self.metrics_port = None
        self.child = Child(self.name, self.argv(), on_line)
        self.logs.append(self.child.log)
        deadline = time.monotonic() + timeout
        while not serving.is_set() and self.child.running() and time.monotonic() < deadline:
            serving.wait(0.1)
        if not serving.is_set() or "grpc" not in ports or "metrics" not in ports:
            self.child.stop()
            raise AssertionError("%s did not start\n%s" % (self.name, self.child.tail()))
        self.grpc_port, self.metrics_port = ports["grpc"], ports["metrics"]
        return self

    def running(self):
        return self.child is not None and self.child.running()

    def stop(self, timeout=60):
        """SIGTERM (drain, final checkpoint), SIGKILL after `timeout` s; the exit status."""
        return self.child.stop(timeout) if self.child else None

    def kill(self):
        """kill -9; returns the exit status."""
        return self.child.kill() if self.child else None

    def cleanup(self):
        """Stops a running process and removes the data directory if this object created it."""
        if self.running():
            self.stop()
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def metrics_text(self, timeout=10):
        """The body of GET /metrics."""
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()

    def tail(self, lines=30):
        return self.child.tail(lines) if self.child else "%s never started" % self.name


# --- Prometheus text format ----------------------------------------------------------------------

def parse_metrics(text):
    """{series: value} of every sample line ("name{labels} value") of a /metrics body."""
    values = {}
    for line in text.splitlines():
        match = _SAMPLE_LINE.match(line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


# name, optional {labels} (label values may hold spaces), value, optional timestamp.
_SAMPLE_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)(?: -?\d+)?$')


def metric_value(text, series):
    """The value of one exact series line (name{labels}) in Prometheus text format."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError("series %s not in /metrics" % series)


# --- one server and a client for a test class ----------------------------------------------------

def start_with_client(pc, method="frozen", flags=(), timeout=STARTUP_TIMEOUT_S):
    """(server, client): a started ServerProcess and a ready perennial_client.Client on it.

    Cleans the server up when anything fails (unittest skips tearDownClass after a failed
    setUpClass, so nothing else would).
    """
    server = ServerProcess(method=method, flags=flags)
    try:
        server.start(timeout=timeout)
        client = pc.Client(server.grpc_target, timeout=60)
        client.wait_until_ready(timeout=timeout)
        return server, client
    except BaseException:
        server.cleanup()
        raise


def stop_with_client(server, client):
    """Closes `client`, SIGTERMs `server`, removes its data; AssertionError unless it exited 0."""
    client.close()
    code = server.stop()
    server.cleanup()
    if code != 0:
        raise AssertionError("perennial-server exited with %s after SIGTERM:\n%s"
                             % (code, server.tail()))
