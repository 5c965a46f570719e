"""Helpers for the operational tests: the server's workers, raw HTTP over a socket, nginx in front."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.conftest import PROJECT, Server, child_pids, free_port, make_customer, wait_until_ready

CUSTOMER = orjson.dumps(make_customer())


def worker_pids(server: Server) -> list[int]:
    """The master's child processes (its workers)."""
    assert server.proc is not None
    return sorted(child_pids(server.proc.pid))


def wait_for_workers(server: Server, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"expected {count} workers, have {worker_pids(server)}")


def request_head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and whatever arrived until the server closed or the body was complete."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 62


class Nginx:
    """nginx proxying to the service, with the request buffering and timeouts of the Beanstalk platform's."""

    def __init__(self, upstream_port: int, prefix: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = prefix
        self.upstream_port = upstream_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            pytest.skip("nginx is not installed (scripts/system-deps/61-nginx.sh)")
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                port=self.port, upstream=self.upstream_port, prefix=self.prefix, user=getpass.getuser(), project=PROJECT
            )
        )
        cmd = [binary, "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_ready(self.url + "/readyz")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class ProjectNginx(Nginx):
    """nginx as the local stack runs it: nginx/churn.conf.template inside nginx/local-main.conf.template."""

    def __init__(self, upstream_ports: list[int], prefix: Path, wait: bool = True):
        super().__init__(upstream_ports[0], prefix)
        self.upstreams = " ".join(f"server 127.0.0.1:{port};" for port in upstream_ports)
        self.wait = wait

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            pytest.skip("nginx is not installed (scripts/system-deps/61-nginx.sh)")
        self.prefix.mkdir(parents=True, exist_ok=True)
        names = {"NGINX_PORT": str(self.port), "API_UPSTREAMS": self.upstreams, "RUN_DIR": str(self.prefix),
                 "STACK_USER": getpass.getuser()}  # fmt: skip
        for template, target in (("churn.conf.template", "churn.conf"), ("local-main.conf.template", "nginx.conf")):
            text = (PROJECT / "nginx" / template).read_text()
            for name, value in names.items():  # only our ${NAMES}, as scripts/stack.sh renders them
                text = text.replace(f"${{{name}}}", value)
            (self.prefix / target).write_text(text)
        for included in ("churn-errors.conf", "churn-paths.conf"):  # as scripts/stack.sh copies them
            shutil.copy(PROJECT / ".platform/nginx/conf.d/elasticbeanstalk" / included, self.prefix)
        cmd = [binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-e", "stderr"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.wait:
            wait_until_ready(self.url + "/readyz")
        else:
            wait_for_port(self.port)
        return self


# What matters here is what the Beanstalk platform's nginx does by default: it buffers a request
# whole (headers and body) before it passes it on, so a slow client costs nginx a connection, not
# a server thread; and its client timeouts drop clients that stall. This project's .platform/nginx
# files are included where the platform includes them (conf.d/ in http, conf.d/elasticbeanstalk/ in
# the server block).
NGINX_CONF = """
user {user};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  client_header_timeout 60s; client_body_timeout 60s;
  include {project}/.platform/nginx/conf.d/*.conf;
  upstream app {{ server 127.0.0.1:{upstream}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    include {project}/.platform/nginx/conf.d/elasticbeanstalk/*.conf;
    location / {{
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def post_json(url: str, body: bytes, **kwargs: Any) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/json"}, **kwargs)  # noqa: S113
