"""A throwaway JupyterLab server: loopback only, a random token, its own config, data and runtime folders.

The server runs ``jupyter lab`` with the arguments ``make lab`` uses (``lab_arguments``; a test checks
them against the Makefile) plus what a test needs: a fixed free port, no browser, and the app object
exposed to the page so a test can run commands the way the menus do.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# User settings by plugin id that keep pop-ups off the page: the news/update notification asks on first start.
QUIET_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def lab_arguments() -> list[str]:
    """What the Makefile's ``lab`` target passes to ``jupyter lab`` (it adds --allow-root as root only)."""
    return ["--notebook-dir=notebooks", *(["--allow-root"] if os.geteuid() == 0 else [])]


def server_options(port: int) -> list[str]:
    """Options a test adds to ``make lab``'s command line: loopback, a fixed port, no browser window."""
    return ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]


def free_port() -> int:
    """A TCP port nobody listens on right now (the server is told not to retry another one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_environment(state: Path, token: str) -> dict[str, str]:
    """The caller's environment minus its Jupyter/IPython state, plus fresh folders under ``state``.

    The user settings folder is named explicitly (``JUPYTERLAB_SETTINGS_DIR``; JupyterLab 4.6 otherwise
    uses ``$JUPYTER_CONFIG_DIR/lab/user-settings``) and pre-filled with ``QUIET_SETTINGS``. The token
    travels in the environment, not on the command line, so ``ps`` does not show it.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "IPYTHON"))}
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "config/lab/user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "config/lab/workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
    }
    for variable, folder in folders.items():
        path = state / folder
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    for plugin, settings in QUIET_SETTINGS.items():  # stored as <package>/<plugin>.jupyterlab-settings
        path = state / folders["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin.replace(':', '/')}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    env["JUPYTER_TOKEN"] = token
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / "build" / "inductor-cache"))
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # keeps a debugger warning out of every kernel's stderr
    return env


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class LabServer:
    """A running server; ``request`` talks to it with or without the token, never following redirects."""

    process: subprocess.Popen
    cwd: Path  # where the command runs: its notebooks/ folder is what the server shows
    port: int
    token: str
    state: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, *, authorized: bool = True, timeout: float = 10) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Authorization": f"token {self.token}"} if authorized else {}
        try:
            connection.request(method, path, headers=headers)
            reply = connection.getresponse()
            return Response(reply.status, dict(reply.getheaders()), reply.read())
        finally:
            connection.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until the REST API answers; fail with the server's log if it exits or never answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.request("GET", "/api/status", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        """Delete every session: kernels outlive the page that started them."""
        for session in self.request("GET", "/api/sessions").json():
            self.request("DELETE", f"/api/sessions/{session['id']}", timeout=30)

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels); kill it if it does not within 30 s."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):  # it may close the connection while answering
                self.request("POST", "/api/shutdown", timeout=30)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_lab(command: list[str], cwd: Path, state: Path) -> LabServer:
    """Start ``command`` (a ``jupyter lab`` command line) in ``cwd`` with test options and isolated state."""
    port, token = free_port(), secrets.token_hex(24)
    env = isolated_environment(state, token)
    log = state / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*command, *server_options(port)], cwd=cwd, env=env, stdout=sink, stderr=sink)
    server = LabServer(process, cwd, port, token, state, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def jupyter_lab_command() -> list[str]:
    """``jupyter lab`` from the Python running the tests (the project's venv under ``make test``)."""
    return [sys.executable, "-m", "jupyter", "lab", *lab_arguments()]
