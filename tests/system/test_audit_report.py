"""scripts/audit_report.py: pip-audit's verdict, completed from project records where it had none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT

RECORDS = {  # a tiny package index's JSON API: the latest release and its known vulnerabilities
    "flask": {"info": {"version": "3.1.3"}, "vulnerabilities": []},
    "jinja2": {"info": {"version": "3.1.6"}, "vulnerabilities": [{"id": "GHSA-x", "fixed_in": ["3.1.7"]}]},
    "numpy": {"info": {"version": "2.5.0"}, "vulnerabilities": []},
}


class Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.split("/")[2]
        body = json.dumps(RECORDS[name]).encode() if name in RECORDS else b"{}"
        self.send_response(200 if name in RECORDS else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/simple"
    server.shutdown()
    server.server_close()
    thread.join()


def run(tmp_path: Path, index_url: str, deps: list[dict[str, Any]], *ignored: str, strict: bool = False) -> Any:
    (tmp_path / "report.json").write_text(json.dumps({"dependencies": deps}))
    pins = "".join(f"{d['name']}=={LOCKED[d['name']]}; python_version >= '3.8' --hash=sha256:00\n" for d in deps)
    (tmp_path / "req.txt").write_text("-i ${PIP_INDEX_URL}\n" + pins)
    cmd = [sys.executable, "scripts/audit_report.py", str(tmp_path / "report.json"), str(tmp_path / "req.txt"),
           index_url, *ignored]  # fmt: skip
    env = {**os.environ, "CHURN_AUDIT_STRICT": "1" if strict else "0"}
    return subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, env=env, check=False)


LOCKED = {"flask": "3.1.3", "jinja2": "3.1.6", "numpy": "2.4.6", "six": "1.17.0"}  # what the lock pins


def skipped(name: str) -> dict[str, Any]:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name}"}


def test_a_vulnerability_in_a_latest_release_fails_the_audit(tmp_path: Path, index_url: str) -> None:
    result = run(tmp_path, index_url, [skipped("flask"), skipped("jinja2")])
    assert result.returncode == 1
    assert "VULNERABLE jinja2 3.1.6: GHSA-x (fixed in 3.1.7)" in result.stdout
    assert "2 of 2 locked packages audited" in result.stdout


def test_an_explained_vulnerability_passes(tmp_path: Path, index_url: str) -> None:
    result = run(tmp_path, index_url, [skipped("flask"), skipped("jinja2")], "GHSA-x")
    assert result.returncode == 0, result.stdout


def test_an_older_release_is_listed_as_not_audited_and_fails_only_in_strict_mode(
    tmp_path: Path, index_url: str
) -> None:
    deps = [skipped("numpy"), skipped("six")]
    lenient = run(tmp_path, index_url, deps)
    assert lenient.returncode == 0 and "not audited" in lenient.stdout and "numpy 2.4.6" in lenient.stdout
    assert run(tmp_path, index_url, deps, strict=True).returncode == 1


def test_pip_audits_own_findings_count(tmp_path: Path, index_url: str) -> None:
    deps = [{"name": "six", "version": "1.17.0", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}]
    result = run(tmp_path, index_url, deps)
    assert result.returncode == 1 and "PYSEC-1" in result.stdout
