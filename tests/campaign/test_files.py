"""No file a campaign run writes may be a file it reads or another file it writes, however it is spelled."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import campaign
from churn.campaign.files import written_files
from churn.campaign.progress import Progress
from churn.campaign.run import RunOptions, run
from churn.campaign.scorers import offline_scorer
from churn.core.model import model_files
from churn.files import SameFile, check_distinct, printable
from tests.conftest import DATA_PATH, MODEL_PATH
from tests.support.special_files import (
    DEVICES,
    FILE_NAMES,
    KINDS,
    assert_names_escaped,
    assert_whole_lines,
    deadline,
    directory,
)

SOURCE = b"".join(DATA_PATH.read_bytes().splitlines(keepends=True)[:201])  # 200 customers
Spelling = Callable[[Path], Path]  # another name for an existing file, made in its folder


def same_path(path: Path) -> Path:
    return path


def dotted(path: Path) -> Path:
    return path.parent / "." / ".." / path.parent.name / path.name


def doubled_slash(path: Path) -> Path:
    return Path(f"{path.parent}//{path.name}")


def relative(path: Path) -> Path:
    return Path(os.path.relpath(path))


def symlink(path: Path) -> Path:
    return linked(path.with_name("link-" + path.name), path.name)  # relative, as a user would make it


def symlink_to_symlink(path: Path) -> Path:
    return linked(path.with_name("link2-" + path.name), symlink(path))


def through_linked_folder(path: Path) -> Path:
    return linked(path.parent.with_name(path.parent.name + "-alias"), path.parent) / path.name


def linked(link: Path, target: Path | str) -> Path:
    """A symlink to target (made once: a spelling may be asked for twice)."""
    if not link.is_symlink():
        link.symlink_to(target)
    return link


def hard_link(path: Path) -> Path:
    link = path.with_name("hard-" + path.name)
    os.link(path, link)
    return link


SPELLINGS = [same_path, dotted, doubled_slash, relative, symlink, symlink_to_symlink, through_linked_folder, hard_link]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (symlinks as their target's name), to show a refused run touched nothing."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path)] = os.readlink(path).encode()
        elif path.is_file():
            out[str(path)] = path.read_bytes()
    return out


def refused(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run campaign.py, check it stopped as a usage error having written nothing; its message."""
    before = snapshot(folder)
    with pytest.raises(SystemExit) as stopped:
        campaign.main(argv)
    assert stopped.value.code == 2
    assert snapshot(folder) == before
    return capsys.readouterr().err


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a copy of the data (the input), the current directory (for relative spellings)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.csv").write_bytes(SOURCE)
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("option", ["--output", "--top-output"])
def test_no_output_may_be_the_input(
    folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling, option: str
) -> None:
    other = spelling(folder / "in.csv")
    outputs = {"--output": str(folder / "out.csv"), "--top-output": str(folder / "top.csv"), option: str(other)}
    argv = ["score", str(folder / "in.csv"), "--offline", "--top", "3", *[a for o in outputs.items() for a in o]]
    message = refused(argv, folder, capsys)
    assert f"{option} {other} is the same file as the input" in message


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_report_may_not_be_the_input(folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling) -> None:
    source = folder / "in.html"  # a report must end in .html: an input of that name, read as CSV
    (folder / "in.csv").rename(source)
    report = spelling(source)
    message = refused(["score", str(source), "--offline", "-o", "out.csv", "--report", str(report)], folder, capsys)
    assert f"--report {report} is the same file as the input" in message


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("sidecar", ["out.csv.state.json", "out.csv.state.json.tmp", "out.csv.plan.tmp"])
def test_the_output_s_own_files_may_not_be_the_input(
    folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling, sidecar: str
) -> None:
    """The state file, its temporary copy and the plan's copy of the output are written too."""
    source = folder / sidecar
    (folder / "in.csv").rename(source)
    message = refused(["score", str(spelling(source)), "--offline", "-o", "out.csv"], folder, capsys)
    assert "is the same file as the input" in message


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_two_outputs_may_not_be_one_file_existing_or_not(
    folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling
) -> None:
    out = folder / "out.csv"
    out.write_text("an earlier run's output\n")
    argv = ["score", "in.csv", "--offline", "-o", str(out), "--top", "2", "--top-output", str(spelling(out))]
    assert "is the same file as --output" in refused(argv, folder, capsys)
    out.unlink()  # not there yet: the same file-to-be however it is spelled (a hard link is now a file of its own)
    if spelling is not hard_link:
        argv[-1] = str(spelling(out))
        assert "is the same file as --output" in refused(argv, folder, capsys)


def test_two_links_to_a_file_not_yet_written_are_one_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a.csv", "b.csv"):
        (folder / name).symlink_to("missing.csv")
    argv = ["score", "in.csv", "--offline", "-o", "a.csv", "--top", "2", "--top-output", "b.csv"]
    assert "--top-output b.csv is the same file as --output a.csv" in refused(argv, folder, capsys)


def test_an_output_that_is_a_link_to_the_output_s_state_file_is_refused(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "top.csv").symlink_to("out.csv.state.json")
    argv = ["score", "in.csv", "--offline", "-o", "out.csv", "--top", "2", "--top-output", "top.csv"]
    assert "--top-output top.csv is the same file as the output's state file" in refused(argv, folder, capsys)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_model_and_the_key_file_are_read_and_so_never_written(
    folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling
) -> None:
    model = folder / "model.bin"
    model.write_bytes(MODEL_PATH.read_bytes())
    argv = ["score", "in.csv", "--offline", "--model", str(model), "-o", str(spelling(model))]
    assert "is the same file as --model" in refused(argv, folder, capsys)
    key = folder / "key.txt"
    key.write_text("k-1\n")
    argv = ["score", "in.csv", "--url", "http://127.0.0.1:9", "--api-key-file", str(key), "-o", str(spelling(key))]
    assert "is the same file as --api-key-file" in refused(argv, folder, capsys)


MODEL_FILES = ["model.bin", "model.json", "model.html"]  # the model, its metadata, its card (train.py's three)


@pytest.mark.parametrize("spelling", [same_path, symlink, hard_link])
@pytest.mark.parametrize(
    ("option", "which"),  # a report must end in .html: only the card can be one
    [*((o, w) for o in ("--output", "--top-output") for w in MODEL_FILES), ("--report", "model.html")],
)
@pytest.mark.parametrize("mode", [["--offline"], ["--url", "http://127.0.0.1:9"]])
def test_no_file_of_the_model_is_ever_written(
    folder: Path, capsys: pytest.CaptureFixture[str], spelling: Spelling, which: str, option: str, mode: list[str]
) -> None:
    """Not its metadata (which loading the model reads), not its card (which the service serves at /model),
    through the service as offline: a committed model's files are train.py's to write."""
    for name, committed in zip(MODEL_FILES, model_files(MODEL_PATH).values(), strict=True):
        (folder / name).write_bytes(committed.read_bytes())
    target = spelling(folder / which)
    outputs = {"--output": "out.csv", "--top-output": "top.csv", "--report": "r.html", option: str(target)}
    argv = ["score", "in.csv", *mode, "--model", str(folder / "model.bin"), "--top", "2"]
    message = refused(argv + [a for o in outputs.items() for a in o], folder, capsys)
    assert f"{option} {target} is the same file as --model" in message


def test_files_only_read_may_be_one_file(folder: Path) -> None:
    """Reading a file twice harms nothing: the rule is about what is written."""
    source = folder / "in.csv"
    read = {"the input": source, "--api-key-file": hard_link(source)}
    check_distinct(read, written_files(folder / "out.csv", folder / "top.csv", folder / "r.html"))


def test_distinct_files_pass_and_every_written_file_is_checked(folder: Path) -> None:
    source = folder / "in.csv"
    written = written_files(folder / "out.csv", folder / "top.csv", folder / "r.html")
    check_distinct({"the input": source}, written)
    for name, path in written.items():
        with pytest.raises(SameFile, match=f"^{name} "):
            check_distinct({"the input": path}, written)


def test_a_run_with_files_of_their_own_still_runs(folder: Path) -> None:
    argv = ["score", "in.csv", "--offline", "-o", "out.csv", "--top", "2", "--top-output", "top.csv"]
    assert campaign.main(argv) == 0
    assert (folder / "in.csv").read_bytes() == SOURCE
    assert (folder / "top.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("spelling", [same_path, symlink, hard_link])
def test_run_called_from_python_refuses_an_output_that_is_its_input(folder: Path, spelling: Spelling) -> None:
    """The same rule below campaign.py: run() refuses before it opens any file, the input intact."""
    source = folder / "in.csv"
    with pytest.raises(SameFile):
        run(RunOptions(source, spelling(source)), offline_scorer(MODEL_PATH, 0, None), Progress(every=10))
    assert source.read_bytes() == SOURCE


@pytest.mark.parametrize("sidecar", [".state.json", ".state.json.tmp", ".plan.tmp"])
def test_run_called_from_python_refuses_an_input_that_is_one_of_the_outputs_files(folder: Path, sidecar: str) -> None:
    source = (folder / "in.csv").rename(folder / f"out.csv{sidecar}")
    with pytest.raises(SameFile):
        run(RunOptions(source, folder / "out.csv"), offline_scorer(MODEL_PATH, 0, None), Progress(every=10))
    assert source.read_bytes() == SOURCE


# Every file a run writes must be a regular file or not there yet: anything else is refused before
# anything is read or scored (churn.files.check_written), with the option's name, and never blocks.
# Each file: its name in the folder, and the arguments that make the run write it.
WRITTEN: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "--output": ("out.csv", lambda path: ["-o", path]),
    "--top-output": ("top.csv", lambda path: ["-o", "out.csv", "--top", "2", "--top-output", path]),
    "--report": ("r.html", lambda path: ["-o", "out.csv", "--report", path]),
    "the output's state file": ("out.csv.state.json", lambda _: ["-o", "out.csv"]),
    "the state file's temporary copy": ("out.csv.state.json.tmp", lambda _: ["-o", "out.csv"]),
    "the output's temporary copy": ("out.csv.plan.tmp", lambda _: ["-o", "out.csv"]),
}


def refused_at_once(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """refused(), within a few seconds: a run that blocks (on a named pipe) fails the test instead."""
    with deadline(5):
        return refused(argv, folder, capsys)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_a_written_file_that_is_not_a_regular_file_is_refused_before_anything_is_scored(
    folder: Path, capsys: pytest.CaptureFixture[str], written: str, kind: str, resume: list[str]
) -> None:
    name, arguments = WRITTEN[written]
    make, what = KINDS[kind]
    make(folder / name)
    message = refused_at_once(["score", "in.csv", "--offline", *arguments(name), *resume], folder, capsys)
    assert f"{written} {name}: {what}, not a regular file" in message


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("written", ["--output", "--top-output"])
def test_a_device_is_no_output_dev_null_included(
    folder: Path, capsys: pytest.CaptureFixture[str], written: str, device: str
) -> None:
    """Not even /dev/null: the output is read back, has its state file beside it and a plan renames a new
    version over it; --top-output and --report are optional (leave them out to write nothing)."""
    message = refused_at_once(["score", "in.csv", "--offline", *WRITTEN[written][1](device)], folder, capsys)
    assert f"{written} {device}: is a character device, not a regular file" in message


@pytest.mark.parametrize("written", ["--output", "--top-output"])
def test_a_regular_file_or_a_link_to_one_is_still_written(folder: Path, written: str) -> None:
    name, arguments = WRITTEN[written]
    (folder / "target.csv").write_text("an earlier run's file\n")
    (folder / name).symlink_to("target.csv")
    with deadline(60):
        assert campaign.main(["score", "in.csv", "--offline", *arguments(name)]) == 0
    assert (folder / "target.csv").read_text().startswith("customerid,")


# Each message naming a file shows its name escaped (churn.files.printable): a name holding a line end
# or an escape sequence forges no line of a log and drives no terminal; other text stays readable.
def as_given(folder: Path, path: Path) -> list[str]:
    return ["score", str(path), "--offline", "-o", str(folder / "out.csv")]


def a_pipe(path: Path) -> None:
    os.mkfifo(path)


def not_utf8(path: Path) -> None:
    path.write_bytes(b"customerid,contr\xe9t\nx,y\n")


def nothing(path: Path) -> None:
    pass


def one_file_twice(folder: Path, path: Path) -> list[str]:
    return ["score", str(folder / "in.csv"), "--offline", "-o", str(path), "--top", "1", "--top-output", str(path)]


def as_output(folder: Path, path: Path) -> list[str]:
    return ["score", str(folder / "in.csv"), "--offline", "-o", str(path)]


# Each error path naming a file: what is made at the path, the arguments, the message, its lines.
NAMED = {
    "missing input": (nothing, as_given, "cannot read {}: No such file or directory", 1),
    "a pipe as input": (a_pipe, as_given, "{} is not a regular file", 1),
    "a directory as input": (directory, as_given, "{} is a directory, not a customer file", 1),
    "an input not UTF-8": (not_utf8, as_given, "{}: line 1 is not UTF-8 text", 1),
    "a pipe as --output": (a_pipe, as_output, "--output {}: is a named pipe", 2),
    "one file given twice": (nothing, one_file_twice, "--top-output {0} is the same file as --output {0}", 2),
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=FILE_NAMES, case=st.sampled_from(sorted(NAMED)))
def test_a_message_names_a_file_escaped_whatever_its_name_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, case: str
) -> None:
    make, arguments, expected, lines = NAMED[case]
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "in.csv").write_bytes(SOURCE)
    path = folder / name
    make(path)
    capsys.readouterr()
    with deadline(10):
        try:
            status = campaign.main(arguments(folder, path))
        except SystemExit as e:  # a usage error found by the parser
            status = e.code
    err = capsys.readouterr().err
    assert status == 2
    assert expected.format(printable(path)) in err
    assert_whole_lines(err, lines)
    assert_names_escaped(err, name)


PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12", "--budget", "20")
# Every way a run reads its input back or writes a file after scoring: the plan (from what the engine
# carried, and read back on --resume), the report (the input's facts and the output read back by Arrow).
MODES = {
    "plain": (),
    "plan": PLAN,
    "report": ("--report", "REPORT"),
    "plan, report and top": (*PLAN, "--report", "REPORT", "--top", "3", "--top-output", "TOP"),
}


def finished(folder: Path, source: str, output: str, mode: str, *more: str) -> tuple[int, list[bytes]]:
    """A run over folder/source into folder/output; its status and the bytes of every file it wrote."""
    report, top = folder / f"{output}.html", folder / f"{output}-top.csv"
    swap = {"REPORT": str(report), "TOP": str(top)}
    args = [swap.get(a, a) for a in MODES[mode]]
    status = campaign.main(["score", str(folder / source), "--offline", "-o", str(folder / output), *args, *more])
    written = [folder / output, report, top]
    return status, [p.read_bytes() for p in written if p.exists()]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=FILE_NAMES, mode=st.sampled_from(sorted(MODES)))
def test_a_run_writes_the_same_files_whatever_its_files_names_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, mode: str
) -> None:
    """Names with control characters or bytes that are not UTF-8 (a surrogate in Python) as input, output,
    report and top-output: the run, and --resume after it, write what plainly named files get, but for
    the report, which shows the input's name escaped (printable())."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "in.csv").write_bytes(SOURCE)
    (folder / name).write_bytes(SOURCE)
    with deadline(30):
        plain = finished(folder, "in.csv", "plain.csv", mode)
        odd = finished(folder, name, name + ".out", mode)
        resumed = finished(folder, name, name + ".out", mode, "--resume")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert plain[0] == odd[0] == resumed[0] == 0, err
    # The report names its input (the only place a name is written into a file): escaped, then as HTML.
    plain_files = [f.replace(b"in.csv", html.escape(printable(name)).encode()) for f in plain[1]]
    assert odd[1] == resumed[1] == plain_files
