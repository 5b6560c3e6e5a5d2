"""The test server (`make lab`'s command line): loopback only, nothing without the token, no news pop-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .lab_server import QUIET_SETTINGS, LabServer

pytestmark = pytest.mark.browser

LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net/tcp* spell them


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port``, from the kernel's tables (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize("path", ["/api/contents", "/api/sessions", "/api/kernels", "/api/terminals"])
def test_api_refuses_requests_without_the_token(lab_server: LabServer, path: str):
    assert lab_server.request("GET", path, authorized=False).status == 403


def test_a_wrong_token_is_refused(lab_server: LabServer):
    assert lab_server.request("GET", "/api/contents?token=not-the-token", authorized=False).status == 403


def test_the_lab_page_without_the_token_redirects_to_login(lab_server: LabServer):
    response = lab_server.request("GET", "/lab", authorized=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login")


def test_with_the_token_the_notebooks_are_served(lab_server: LabServer):
    assert lab_server.request("GET", "/lab").status == 200
    assert lab_server.request("GET", f"/api/contents?token={lab_server.token}", authorized=False).status == 200
    listing = lab_server.request("GET", "/api/contents").json()
    served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
    assert served == {path.name for path in (lab_server.cwd / "notebooks").glob("*.ipynb")}  # the copy
    assert "00_overview.ipynb" in served


def test_the_server_listens_on_loopback_only(lab_server: LabServer):
    addresses = listening_addresses(lab_server.port)
    assert addresses and addresses <= LOOPBACK, addresses
    (runtime,) = (lab_server.state / "runtime").glob("jpserver-*.json")
    assert json.loads(runtime.read_text())["hostname"] == "127.0.0.1"


def test_news_and_update_checks_are_off_in_the_user_settings(lab_server: LabServer):
    for plugin, expected in QUIET_SETTINGS.items():
        settings = lab_server.request("GET", f"/lab/api/settings/{plugin}").json()["settings"]
        assert {key: settings[key] for key in expected} == expected
