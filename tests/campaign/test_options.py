"""campaign.py's options (churn.campaign.options): a value that cannot work is a usage error naming the
option, before anything is scored or sent; the API key's sources; where the files go; a server without jobs."""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaign
from churn.campaign import options
from churn.campaign.options import MAX_CHUNK_SIZE, MAX_CONCURRENCY, MAX_EXPLAIN, MAX_RETRIES, MAX_SECONDS
from churn.config import ConfigError, Settings
from tests.campaign.test_client import FakeService
from tests.conftest import DATA_PATH, free_port

NOT_WHOLE = ["1.5", "1e3", "+5", " 5", "5 ", "1_000", "\u0665", "\uff15", "", "nan", "inf", "five", "9" * 5000]
NOT_SECONDS = ["0", "-1", "-0.5", "nan", "inf", "-inf", "1e308", str(MAX_SECONDS + 1), "soon", ""]
BAD_VALUES = [
    *[("--chunk-size", v) for v in ["0", "-1", str(MAX_CHUNK_SIZE + 1), *NOT_WHOLE]],
    *[("--concurrency", v) for v in ["0", "-4", str(MAX_CONCURRENCY + 1), *NOT_WHOLE]],
    *[("--retries", v) for v in ["0", "-1", str(MAX_RETRIES + 1), *NOT_WHOLE]],
    *[("--explain", v) for v in ["-1", str(MAX_EXPLAIN + 1), *NOT_WHOLE]],
    *[("--top", v) for v in ["-1", "-0", *NOT_WHOLE]],
    *[("--threshold", v) for v in ["0", "1", "0.0", "1.0", "1.5", "-0.1", "inf", "-inf", "nan", "half", ""]],
    *[
        ("--url", v)
        for v in ["localhost:9696", "ftp://x", "http://", "http://[::1", "http://h:99999", "http://h:0", ""]
    ],
    *[("--timeout", v) for v in NOT_SECONDS],
    *[("--job-timeout", v) for v in NOT_SECONDS],
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("".join(DATA_PATH.read_text().splitlines(keepends=True)[:6]))
    return path


def status_of(argv: list[str]) -> int:
    try:
        return campaign.main(argv)
    except SystemExit as e:  # parser().error
        assert isinstance(e.code, int)
        return e.code


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """campaign.py's stderr for argv, which must be a usage error without a traceback."""
    assert status_of(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=[f"{n}={v[:12]!r}" for n, v in BAD_VALUES])
def test_a_value_no_run_can_use_is_a_usage_error_naming_its_option(
    name: str, value: str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    err = usage_error(["score", str(source), "--offline", "-o", str(out), name, value], capsys)
    assert f"argument {name}:" in err
    assert not out.exists()  # refused before anything was scored


def test_the_limits_themselves_are_accepted() -> None:
    argv = ["score", "in.csv", "-o", "out.csv", "--url", "http://x", "--chunk-size", str(MAX_CHUNK_SIZE),
            "--concurrency", str(MAX_CONCURRENCY), "--retries", str(MAX_RETRIES), "--explain", str(MAX_EXPLAIN),
            "--top", "0", "--threshold", "1e-9", "--timeout", str(MAX_SECONDS), "--job-timeout", "0.001"]  # fmt: skip
    args = campaign.parser().parse_args(argv)
    assert (args.chunk_size, args.concurrency, args.retries) == (MAX_CHUNK_SIZE, MAX_CONCURRENCY, MAX_RETRIES)
    assert (args.explain, args.top, args.threshold, args.timeout, args.job_timeout) == (
        MAX_EXPLAIN, 0, 1e-9, MAX_SECONDS, 0.001,
    )  # fmt: skip


def service_takes(text: str) -> bool:
    try:
        Settings.from_env({"CHURN_THRESHOLD": text})
    except ConfigError:
        return False
    return True


def option_takes(text: str) -> bool:
    try:
        options.threshold(text)
    except argparse.ArgumentTypeError:
        return False
    return True


SECRET = "s3cr3t"  # noqa: S105 - a made-up password the test makes sure is never echoed
BROKEN_AFTER_USERINFO = ["[::1", "h:99999", "h:0", "h:x", "", "[", "h:-1", "[::1]:65536"]


@settings(deadline=None)
@given(
    st.sampled_from(["http", "https", "ftp"]),
    st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=8),
    st.sampled_from(["", "/", "/p@q", "?a=b", "#f", "/x/y"]),
    st.sampled_from(BROKEN_AFTER_USERINFO),
)
def test_a_refused_url_never_shows_its_password(scheme: str, padding: str, path: str, broken: str) -> None:
    """Whatever else is wrong with a --url, a password in it (around which any text may sit) is not echoed."""
    url = f"{scheme}://user:{padding}{SECRET}{padding}@{broken}{path}"
    if options.is_service_url(url):
        return  # not refused: nothing is shown
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        options.service_url(url)
    assert SECRET not in str(refused.value)
    assert "is not an http:// or https:// URL" in str(refused.value)


@settings(deadline=None)  # a shared machine's pauses are no failure of the rule
@given(st.floats() | st.sampled_from([0.0, 1.0, -0.0, 5e-324, 1 - 2**-53, math.nextafter(1, 2)]))
def test_threshold_takes_exactly_the_values_the_service_takes(value: float) -> None:
    assert option_takes(repr(value)) == service_takes(repr(value)) == (0 < value < 1)


def test_top_output_without_top_is_a_usage_error(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["score", str(source), "--offline", "-o", str(tmp_path / "o.csv"), "--top-output", str(tmp_path / "t.csv")]
    assert "--top-output needs --top" in usage_error(argv, capsys)


# Places no file can be written: found before scoring, whichever option names them.
def missing_folder(tmp: Path, name: str) -> Path:
    return tmp / "missing" / name


def inside_a_file(tmp: Path, name: str) -> Path:
    (tmp / "a-file").write_text("")
    return tmp / "a-file" / name


def a_folder(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


PLACES = [missing_folder, inside_a_file, a_folder]
FILE_OPTIONS = [("--output", "out.csv"), ("--top-output", "top.csv"), ("--report", "report.html")]


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize(("name", "file"), FILE_OPTIONS)
def test_an_output_nowhere_writable_is_refused_before_scoring(
    name: str,
    file: str,
    place: Callable[[Path, str], Path],
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {"--output": tmp_path / "out.csv", "--top-output": tmp_path / "top.csv", "--report": None}
    paths[name] = place(tmp_path, file)
    argv = ["score", str(source), "--offline", "--top", "2"]
    argv += [arg for option, path in paths.items() if path is not None for arg in (option, str(path))]
    err = usage_error(argv, capsys)
    assert f"{name} {paths[name]}:" in err
    assert not (tmp_path / "out.csv").is_file() and not list(tmp_path.glob("*.state.json"))


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A folder this process may not write in. Root may write anywhere a mode allows nothing, so as
    root the folder is made immutable instead (chattr +i, which binds root too)."""
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    if options.os.geteuid() != 0:
        yield folder
        return
    made = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if not made or made.returncode != 0:
        pytest.skip("root, on a file system without the immutable flag: no folder root cannot write in")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_output_in_a_folder_without_write_permission_is_refused(
    source: Path, locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["score", str(source), "--offline", "-o", str(locked / "out.csv")], capsys)
    assert "cannot write in" in err


# API keys: what a header cannot carry, from each source; the message names the source, never the key.
BAD_KEYS = ["ключ-0123456789abcdef", "abcd\n0123456789ef", "abcd 0123456789ef", "abcd\t0123456789ef",
            "abcd\x010123456789ef", "abcd\x7f0123456789ef", "café-0123456789ef", "abcd\u20280123456789ef"]  # fmt: skip
SOURCES = ["$CHURN_API_KEY", "--api-key-file", "--api-key"]


def key_argv(source_name: str, key: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The arguments (and environment) that give campaign.py this key from this source."""
    if source_name == "$CHURN_API_KEY":
        monkeypatch.setenv("CHURN_API_KEY", key)
        return []
    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    if source_name == "--api-key-file":
        (tmp / "key").write_bytes(key.encode())
        return ["--api-key-file", str(tmp / "key")]
    return ["--api-key", key]


@pytest.fixture
def fake() -> Iterator[FakeService]:
    server = FakeService([])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("source_name", SOURCES)
@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_no_header_can_carry_is_refused_by_its_source_and_never_shown(
    key: str,
    source_name: str,
    source: Path,
    tmp_path: Path,
    fake: FakeService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "score",
        str(source),
        "--url",
        fake.url,
        "-o",
        str(tmp_path / "o.csv"),
        *key_argv(source_name, key, tmp_path, monkeypatch),
    ]
    err = usage_error(argv, capsys)
    assert source_name in err and "printable ASCII" in err
    assert "0123456789" not in err  # no part of the key
    assert fake.requests == [] and not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("source_name", SOURCES)
@pytest.mark.parametrize("around", [("", "\n"), ("", "\r\n"), ("  ", " \n\n"), ("\t", "")])
def test_white_space_around_a_key_is_dropped_from_every_source(
    around: tuple[str, str],
    source_name: str,
    source: Path,
    tmp_path: Path,
    fake: FakeService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "k3y-0123456789abcdef"
    fake.answers.append((401, {}, {"error": {"code": "unauthorized", "message": "no", "details": None}}))
    given_as = key_argv(source_name, around[0] + key + around[1], tmp_path, monkeypatch)
    assert campaign.main(["score", str(source), "--url", fake.url, "-o", str(tmp_path / "o.csv"), *given_as]) == 4
    assert [r["auth"] for r in fake.requests] == [f"Bearer {key}"]
    assert key not in capsys.readouterr().err


@pytest.mark.parametrize("text", ["", " ", "\n", " \t\r\n"])
def test_an_empty_key_file_or_option_is_refused_and_an_empty_variable_is_no_key(
    text: str,
    source: Path,
    tmp_path: Path,
    fake: FakeService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["score", str(source), "--url", fake.url, "-o", str(tmp_path / "o.csv")]
    for source_name in ("--api-key-file", "--api-key"):
        assert f"{source_name}" in usage_error([*argv, *key_argv(source_name, text, tmp_path, monkeypatch)], capsys)
    fake.answers.append((401, {}, {"error": {"code": "unauthorized", "message": "no", "details": None}}))
    assert campaign.main([*argv, *key_argv("$CHURN_API_KEY", text, tmp_path, monkeypatch)]) == 4
    assert [r["auth"] for r in fake.requests] == [None]  # unset, as the service reads its own variables


@pytest.mark.parametrize("content", [None, "a folder", b"\xff\xfe-not-utf-8-0123456789"])
def test_an_unreadable_key_file_is_a_usage_error(
    content: object, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "key"
    if content == "a folder":
        key_file.mkdir()
    elif isinstance(content, bytes):
        key_file.write_bytes(content)
    url = f"http://127.0.0.1:{free_port()}"
    argv = ["score", str(source), "--url", url, "-o", str(tmp_path / "o.csv"), "--api-key-file", str(key_file)]
    err = usage_error(argv, capsys)
    assert f"--api-key-file {key_file}" in err and "0123456789" not in err


def test_an_offline_run_sends_no_key_so_reads_none(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_API_KEY", BAD_KEYS[0])
    assert campaign.main(["score", str(source), "--offline", "-o", str(tmp_path / "o.csv")]) == 0


def test_async_against_a_server_without_jobs_stops_at_once_with_its_reason(
    source: Path, tmp_path: Path, fake: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "asynchronous jobs are not configured on this server (no REDIS_URL)"
    fake.answers.append((503, {}, {"error": {"code": "jobs_disabled", "message": message, "details": None}}))
    argv = ["score", str(source), "--url", fake.url, "-o", str(tmp_path / "o.csv"), "--async"]
    assert campaign.main(argv) == campaign.REFUSED
    err = capsys.readouterr().err
    assert len(fake.requests) == 1  # not retried for 39 s
    assert message in err and "drop --async" in err and "--resume" not in err
