"""campaign.py against the real server: bad rows, the server killed and restarted mid-run, a killed client resumed."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn.campaign.run import state_path
from tests.campaign.test_campaign import read_output
from tests.conftest import DATA_PATH, PROJECT, Server, make_customer

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CRM export four times over (28k rows), each copy's ids made unique."""
    path = tmp_path_factory.mktemp("input") / "customers.csv"
    with DATA_PATH.open(newline="") as f:
        records = list(csv.DictReader(f))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(records[0]))
        writer.writeheader()
        for copy in range(4):
            writer.writerows({**r, "customerID": f"{r['customerID']}-{copy}"} for r in records)
    return path


@pytest.fixture(scope="module")
def expected(big_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an uninterrupted run writes (offline: the same scoring code, so the same bytes)."""
    out = tmp_path_factory.mktemp("expected") / "out.csv"
    subprocess.run(campaign_cmd(big_input, out, "--offline", "--explain", "2"), check=True, capture_output=True)
    return out


def campaign_cmd(source: Path, out: Path, *args: str) -> list[str]:
    return [sys.executable, "campaign.py", "score", str(source), "-o", str(out), *args]


def run_campaign(source: Path, out: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = campaign_cmd(source, out, *args)
    return subprocess.run(cmd, check=False, cwd=PROJECT, capture_output=True, text=True, timeout=timeout)


def start_campaign(source: Path, out: Path, *args: str) -> subprocess.Popen[bytes]:
    cmd = campaign_cmd(source, out, *args)
    return subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_progress(out: Path, proc: subprocess.Popen[bytes], rows: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = state_path(out)
        if state.exists() and json.loads(state.read_text())["rows_done"] >= rows:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"campaign did not reach {rows} rows")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(log_dir=tmp_path).start()
    yield server
    server.stop()


def test_bad_rows_among_good_ones(server: Server, tmp_path: Path) -> None:
    rows = [make_customer(customerid=f"c{i}", tenure=i) for i in range(50)]
    rows[7]["contract"] = "monthly"
    rows[31].pop("tenure")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    out = tmp_path / "out.csv"
    done = run_campaign(source, out, "--url", server.url, "--chunk-size", "8", "--explain", "1")
    assert done.returncode == 1, done.stderr
    output = read_output(out)
    assert [r["customerid"] for r in output] == [f"c{i}" for i in range(50)] + [""]
    rejected = {i: r["error"] for i, r in enumerate(output) if r["error"]}
    assert sorted(rejected) == [7, 31, 50]
    assert "unknown_category: contract" in rejected[7] and "missing_field: tenure" in rejected[31]
    assert rejected[50].startswith("invalid_json")
    assert all(r["reasons"] and r["percentile"] for i, r in enumerate(output) if i not in rejected)
    assert "rows 51  scored 48  rejected 3" in done.stdout


# Lines as json.dumps and pandas write them, and numbers of any size JSON allows: values to judge per row.
NUMBER_LINES = [
    '"totalcharges": NaN', '"tenure": Infinity', '"monthlycharges": -Infinity', '"extra": 1e999',
    '"tenure": ' + "1" * 400, '"totalcharges": ' + "9" * 5000, '"customerid": 100000000000000000000', '"tenure": 1e309',
]  # fmt: skip


def test_numbers_of_any_size_score_through_the_service_as_offline(server: Server, tmp_path: Path) -> None:
    customer = json.loads((PROJECT / "examples" / "customer.json").read_text())
    good = [json.dumps({**customer, "customerid": f"g{i}"}) for i in range(1500)]  # more than one chunk first
    odd = []
    for item in NUMBER_LINES:
        rest = {k: v for k, v in customer.items() if f'"{k}"' != item.partition(":")[0]}
        odd.append(json.dumps(rest)[:-1] + ", " + item + "}")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(good + odd) + "\n")
    online, offline = tmp_path / "online.csv", tmp_path / "offline.csv"
    through = run_campaign(source, online, "--url", server.url)
    local = run_campaign(source, offline, "--offline")
    assert (through.returncode, local.returncode) == (1, 1), through.stderr + local.stderr  # rows rejected, none lost
    assert online.read_bytes() == offline.read_bytes()
    rows = read_output(online)[1500:]
    assert [r["error"].partition("(")[2] for r in rows] == [
        "", "not_finite: tenure)", "not_finite: monthlycharges)", "", "not_finite: tenure)",
        "not_finite: totalcharges)", "out_of_range: customerid)", "not_finite: tenure)",
    ]  # fmt: skip


def test_the_server_killed_and_restarted_mid_run(
    server: Server, big_input: Path, expected: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    client = start_campaign(big_input, out, "--url", server.url, "--chunk-size", "100", "--explain", "2")
    wait_for_progress(out, client, 2000)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)  # a crash: no graceful shutdown, connections cut
    server.stop()
    wait_port_closed(server.port)
    time.sleep(1)  # the client is now retrying against a closed port
    server.start()  # same port, fresh processes
    _, stderr = client.communicate(timeout=120)
    assert client.returncode == 0, stderr
    assert out.read_bytes() == expected.read_bytes()
    assert len(read_output(out)) == 4 * 7043


def wait_port_closed(port: int, timeout: float = 30) -> None:
    """Wait until nothing listens (server's orphaned workers notice their master died within a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still open")


def test_a_killed_client_resumes_without_losing_or_repeating_a_row(
    server: Server, big_input: Path, expected: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    args = ("--url", server.url, "--chunk-size", "50", "--concurrency", "3", "--explain", "2")
    client = start_campaign(big_input, out, *args)
    wait_for_progress(out, client, 3000)
    client.kill()  # SIGKILL: no chance to tidy up
    client.communicate()
    state = json.loads(state_path(out).read_text())
    assert not state["complete"], "the run finished before it could be interrupted; use a bigger input"
    resumed = run_campaign(big_input, out, *args, "--resume", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == expected.read_bytes()
    rows = read_output(out)
    with big_input.open(newline="") as f:
        assert [r["customerid"] for r in rows] == [r["customerID"] for r in csv.DictReader(f)]


def test_a_chunk_over_the_servers_batch_limit_is_split(tmp_path: Path) -> None:
    server = Server(log_dir=tmp_path, env={"CHURN_MAX_BATCH": "30"}).start()
    try:
        source = tmp_path / "in.jsonl"
        source.write_text("".join(json.dumps(make_customer(customerid=f"s{i}", tenure=i)) + "\n" for i in range(100)))
        out = tmp_path / "out.csv"
        done = run_campaign(source, out, "--url", server.url, "--chunk-size", "100")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert [r["customerid"] for r in read_output(out)] == [f"s{i}" for i in range(100)]
