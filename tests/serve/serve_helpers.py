"""Helpers for the service tests: a real ``lmrec serve`` process and the CLI in-process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from lmrec.cli import app

RUNNER = CliRunner()
#: Generous: the suite may share a 2-core machine with other work.
TIMEOUT = 60.0


def _request(method: str, url: str, **kw):
    return httpx.request(method, url, timeout=TIMEOUT, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: object) -> str:
    result = RUNNER.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


class Server:
    """``lmrec serve RUN`` in a subprocess; ``kill()`` sends SIGKILL (no graceful exit)."""

    def __init__(self, run: Path, keys: Path, store: Path | str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "lmrec", "serve", str(run), "--port", str(self.port)]
        store = store if isinstance(store, str) else f"duckdb:{store}"
        cmd += ["--keys", str(keys), "--store", store]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the service did not become ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: uvicorn finishes in-flight requests, shuts down, then re-raises the
        signal (exit status -15), after saying so on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            assert "Finished server process" in self.proc.stderr.read().decode()
