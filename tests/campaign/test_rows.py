"""What an input file must be: a regular, readable file of UTF-8 text (a BOM allowed), CSV or JSON Lines alike."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import campaign
from churn.campaign.rows import read_rows
from churn.core.records import InputError
from tests.conftest import PROJECT, free_port, make_customer

FORMATS = [".csv", ".jsonl"]
LINE_ENDS = ["\n", "\r\n", "\r"]
# Bytes that are not UTF-8, as other encodings write text (or as a file cut in the middle of a character)
NOT_UTF8 = {
    "latin-1 É": b"\xc9",
    "windows-1252 quote": b"\x93",
    "a lone continuation byte": b"\x80",
    "an overlong NUL": b"\xc0\x80",
    "a surrogate": b"\xed\xa0\x80",
    "a five-byte sequence": b"\xf8\x88\x80\x80\x80",
    "a character cut short": b"\xe2\x82",
}


def customers(n: int = 6) -> list[dict[str, object]]:
    return [make_customer(customerid=f"c{i}", tenure=i + 1) for i in range(n)]


def text_of(suffix: str, rows: list[dict[str, object]], end: str) -> str:
    """The rows as a file of that format, every line ended with `end`."""
    if suffix == ".jsonl":
        return "".join(json.dumps(r) + end for r in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator=end)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def with_bad_bytes(text: str, end: str, line: int, bad: bytes) -> bytes:
    """The text's UTF-8 with `bad` put inside its line number `line` (1-based), before the line's end."""
    lines = text.encode().split(end.encode())
    lines[line - 1] = lines[line - 1].replace(b"c", b"c" + bad, 1) if b"c" in lines[line - 1] else bad
    return end.encode().join(lines)


@pytest.mark.parametrize("name", NOT_UTF8)
@pytest.mark.parametrize("end", LINE_ENDS, ids=repr)
@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("line", [1, 4, 7])
def test_bytes_that_are_not_utf8_name_the_file_and_the_line(
    tmp_path: Path, name: str, end: str, suffix: str, line: int
) -> None:
    text = text_of(suffix, customers(), end)
    if suffix == ".jsonl" and line == 7:
        line = 6  # six customers: six lines (a CSV has its header too)
    path = tmp_path / f"in{suffix}"
    path.write_bytes(with_bad_bytes(text, end, line, NOT_UTF8[name]))
    with pytest.raises(InputError) as refused:
        list(read_rows(path))
    message = str(refused.value)
    assert message.startswith(f"{path}: line {line} is not UTF-8 text (byte 0x{NOT_UTF8[name][0]:02x})")
    assert "the file must be UTF-8" in message


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_file_cut_inside_its_last_character_names_its_last_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    text = text_of(suffix, customers(), "\n").encode()
    path.write_bytes(text[:-1] + "€".encode()[:2])  # no line end after it
    lines = text.count(b"\n")
    with pytest.raises(InputError, match=f"line {lines} is not UTF-8 text \\(byte 0xe2\\)"):
        list(read_rows(path))


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_utf16_file_is_refused_at_its_first_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    path.write_bytes(text_of(suffix, customers(), "\r\n").encode("utf-16"))  # as "Unicode text" exports are
    with pytest.raises(InputError, match="line 1 is not UTF-8 text \\(byte 0xff\\)"):
        list(read_rows(path))


@pytest.mark.parametrize("end", LINE_ENDS, ids=repr)
@pytest.mark.parametrize("suffix", FORMATS)
def test_a_bom_in_front_is_read_the_same_way_in_every_format(tmp_path: Path, suffix: str, end: str) -> None:
    text = text_of(suffix, customers(), end)
    plain, marked = tmp_path / f"plain{suffix}", tmp_path / f"marked{suffix}"
    plain.write_bytes(text.encode())
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    rows = list(read_rows(marked))
    assert rows == list(read_rows(plain)) and len(rows) == len(customers())


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_bom_in_front_scores_to_the_same_output(tmp_path: Path, suffix: str) -> None:
    text = text_of(suffix, customers(), "\n")
    outputs = []
    for name, data in (("plain", text.encode()), ("marked", b"\xef\xbb\xbf" + text.encode())):
        source, out = tmp_path / f"{name}{suffix}", tmp_path / f"{name}-out.csv"
        source.write_bytes(data)
        assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == len(customers()) + 1


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("mode", ["--offline", "--url"])
def test_a_file_that_is_not_utf8_exits_2_before_any_row_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, mode: str
) -> None:
    """Online, the rows are counted before the first request: exit 2, not 3 for the service nobody asked."""
    source = tmp_path / f"in{suffix}"
    source.write_bytes(with_bad_bytes(text_of(suffix, customers(), "\n"), "\n", 3, b"\xc9"))
    where = ["--offline"] if mode == "--offline" else ["--url", f"http://127.0.0.1:{free_port()}", "--retries", "1"]
    assert campaign.main(["score", str(source), *where, "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{source}: line 3 is not UTF-8 text" in err and "Traceback" not in err
    if mode == "--url":
        assert not (tmp_path / "out.csv").exists()


def not_a_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"input-{kind}"
    if kind == "directory":
        path.mkdir()
    elif kind == "link to a directory":
        path.symlink_to(tmp_path)
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "nowhere.csv")
    elif kind == "device":
        path = Path(os.devnull)
    elif kind == "unreadable":
        path.write_text("customerid\nc1\n")
        path.chmod(0)
    return path


UNREADABLE = ["missing", "directory", "link to a directory", "dangling link", "device", "unreadable"]


@pytest.mark.parametrize("kind", UNREADABLE)
def test_an_input_that_is_not_a_readable_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    source = not_a_file(tmp_path, kind)
    out = tmp_path / "out.csv"
    argv = ["score", str(source), "--offline", "-o", str(out)]
    if kind == "unreadable" and os.geteuid() == 0:
        status, err = as_root_bound_by_modes(argv)
    else:
        status, err = campaign.main(argv), capsys.readouterr().err
    assert status == 2
    assert str(source) in err and "Traceback" not in err
    assert not out.exists()


def as_root_bound_by_modes(argv: list[str]) -> tuple[int, str]:
    """campaign.py run by root without the capabilities that let root read and search any file (as the
    test's unreadable file needs: root reads anything otherwise), in a subprocess: (exit status, stderr)."""
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    command = [*drop, sys.executable, str(PROJECT / "campaign.py"), *argv]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stderr


def test_a_named_pipe_is_refused_at_once_rather_than_waited_on(tmp_path: Path) -> None:
    """Opening a FIFO to read waits for a writer; and a run reads its input more than once."""
    pipe = tmp_path / "in.csv"
    os.mkfifo(pipe)
    done = subprocess.run(
        [sys.executable, "campaign.py", "score", str(pipe), "--offline", "-o", str(tmp_path / "out.csv")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{pipe} is not a regular file" in done.stderr and "Traceback" not in done.stderr


# A CSV record with another number of cells than the header: that row's error (the CSV bodies' rule,
# churn.core.records.checked_cells), on both readers of a campaign file, the others scored as ever.
RAGGED = {
    "one cell more": lambda line: line + ",extra",
    "three cells more": lambda line: line + ",a,b,c",
    "a trailing comma": lambda line: line + ",",
    "one cell fewer": lambda line: line.rsplit(",", 1)[0],
    "four cells fewer": lambda line: line.rsplit(",", 4)[0],
    "a single cell": lambda line: line.split(",", 1)[0],
}


def telco_lines(n: int) -> list[str]:
    from tests.conftest import DATA_PATH  # noqa: PLC0415 - only these tests read the export itself

    with DATA_PATH.open(newline="") as f:
        return [line.rstrip("\r\n") for _, line in zip(range(n + 1), f, strict=False)]


@pytest.mark.parametrize("kind", RAGGED)
@pytest.mark.parametrize("position", [1, 7, 30], ids=["first row", "a middle row", "the last row"])
def test_a_ragged_csv_row_is_that_rows_error_on_both_readers(tmp_path: Path, kind: str, position: int) -> None:
    lines = telco_lines(30)
    cells = len(lines[0].split(","))
    ragged = RAGGED[kind](lines[position])
    source, plain = tmp_path / "in.csv", tmp_path / "plain.csv"
    source.write_text("\n".join([*lines[:position], ragged, *lines[position + 1 :]]) + "\n")
    plain.write_text("\n".join(lines) + "\n")
    rows = list(read_rows(source))
    assert len(rows) == 30
    error = f"line {position + 1} of the CSV has {len(ragged.split(','))} cells: the header names {cells} columns"
    assert getattr(rows[position - 1], "message", None) == error
    outputs = []
    for name, path in (("in", source), ("plain", plain)):
        for chunk in ("", "--chunk-size=7"):  # the engine (falling back at the ragged block) / a resumed-run reader
            out = tmp_path / f"scored-{name}{chunk[-1:]}.csv"
            argv = ["score", str(path), "--offline", "-o", str(out)]
            status = campaign.main(argv) if not chunk else resumed(argv, out)
            assert status == (1 if path == source else 0)
            outputs.append(out.read_text().splitlines())
    got, got_chunked, want, _ = outputs
    assert got == got_chunked
    assert len(got) == len(want) == 31
    assert got[position] == f",,,,,invalid_csv: {error},"
    assert got[:position] + got[position + 1 :] == want[:position] + want[position + 1 :]


def resumed(argv: list[str], out: Path) -> int:
    """The run through the Python reader: a run of its first row, killed as it were, then resumed."""
    first = campaign.main([*argv, "--chunk-size", "1"])
    assert first in (0, 1)
    state = json.loads(out.with_name(out.name + ".state.json").read_text())
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:2]))  # the header and the first row, as a crash after one chunk leaves it
    state.update(rows_done=1, output_bytes=len(b"".join(lines[:2])), complete=False)
    out.with_name(out.name + ".state.json").write_text(json.dumps(state))
    return campaign.main([*argv, "--resume"])
