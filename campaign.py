"""The campaign client: score a whole customer file through the service (or offline), exactly once per row.

    python campaign.py score INPUT --url URL --output OUTPUT [options]

With --contact-cost, --retention-rate and --horizon-months (and --budget N or --budget-amount AMOUNT),
the finished output also says whom to contact (expected_value and contact columns, churn.campaign.plan);
--report FILE.html draws a self-contained campaign report (churn.campaign.report). docs/campaign.md.

Exit status: 0 every row scored; 1 finished, but some rows were rejected (see the error column);
2 bad usage (churn.campaign.options checks every value before scoring), unreadable input or a --resume
that does not match; 3 the service stayed unavailable (partial output kept: re-run with --resume);
4 the service refused the requests (authentication, options, --async on a server without jobs, a failed
job, or its model changed mid-run); 5 with --async, a job did not finish within
--job-timeout seconds (partial output kept: re-run with --resume); 130 interrupted (re-run with --resume).

The API key comes from $CHURN_API_KEY or --api-key-file FILE; --api-key KEY still works, with a
warning, as every user of the machine can read a command line. White space around it is dropped; what
is left must be printable ASCII without spaces, or the run stops naming the source, never the key.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# This process never calls BLAS, and numpy's OpenBLAS reads this once, as numpy loads (which the next
# imports do): without it, OpenBLAS starts a thread per core that spins beside the offline engine's.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from churn.campaign import options as option
from churn.campaign.client import RequestRefused, RetryPolicy, ServiceClient, Unavailable
from churn.campaign.files import written_files
from churn.campaign.offline.process import prepare_offline_process
from churn.campaign.output import OUTPUT_COLUMNS, PLAN_COLUMNS
from churn.campaign.progress import Progress
from churn.campaign.rows import BackgroundDigest
from churn.campaign.run import ModelChanged, ResumeError, RunOptions, RunState, run
from churn.campaign.scorers import ChunkScorer, JobTimedOut, jobs_scorer, offline_scorer, online_scorer
from churn.campaign.summary import write_rows
from churn.config import DEFAULT_MODEL_PATH, ConfigError
from churn.core.model import model_files
from churn.core.records import InputError
from churn.errors import Code, ModelLoadError
from churn.files import FileRefused, check_written, printable

if TYPE_CHECKING:
    from churn.campaign.carried import Carried
    from churn.campaign.outcome import Outcome
    from churn.campaign.plan import PlanOptions

RESUME_HINT = "fix it and re-run with --resume to go on from the last rows made durable"
OK, REJECTED_ROWS, USAGE, UNAVAILABLE, REFUSED, JOB_TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
REPORT_NEEDS_MATPLOTLIB = (
    "--report needs matplotlib, which is not installed: it is in the Pipfile's [train] category "
    '(pipenv install --categories "packages train", as scripts/train.sh does)'
)
KEY_ON_COMMAND_LINE = (
    "warning: --api-key shows the key to every user of this machine (ps, /proc); "
    "set CHURN_API_KEY or use --api-key-file FILE instead"
)
JOBS_DISABLED_HINT = "drop --async to score through /v1/predict, or give the service a REDIS_URL"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campaign.py", description="Score a customer file for a marketing campaign.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score every row of INPUT (CSV or JSON Lines) into OUTPUT (CSV)")
    s.add_argument("input", type=Path, help="CSV (raw CRM export or normalized) or .jsonl/.ndjson")
    s.add_argument("--output", "-o", type=Path, required=True)
    s.add_argument(
        "--url", type=option.service_url, help="the service, e.g. http://localhost:9696 (not with --offline)"
    )
    s.add_argument("--offline", action="store_true", help="score with the local model file instead of a service")
    s.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="model file for --offline")
    s.add_argument("--async", dest="use_jobs", action="store_true", help="send chunks as jobs (POST /v1/jobs)")
    s.add_argument("--chunk-size", type=option.chunk_size, default=1000, help="rows per request (default 1000)")
    s.add_argument("--concurrency", type=option.concurrency, default=4, help="requests in flight (default 4)")
    s.add_argument(
        "--explain",
        type=option.explain,
        default=0,
        metavar="K",
        help=f"reason codes per customer (0-{option.MAX_EXPLAIN})",
    )
    s.add_argument(
        "--threshold", type=option.threshold, help="decide churn at this probability (default: the service's)"
    )
    s.add_argument(
        "--top", type=option.top, default=0, metavar="N", help="list the N highest-risk customers at the end"
    )
    s.add_argument("--top-output", type=Path, help="also write those N customers to this CSV")
    s.add_argument("--resume", action="store_true", help="continue an interrupted run into the same OUTPUT")
    s.add_argument("--timeout", type=option.wait, default=60.0, help="seconds per HTTP call (default 60)")
    s.add_argument("--retries", type=option.retries, default=8, help="tries per HTTP call (default 8)")
    s.add_argument(
        "--job-timeout", type=option.wait, default=600.0, metavar="S",
        help="with --async, seconds to wait for one job before giving up (default 600; exit status 5)",
    )  # fmt: skip
    s.add_argument("--api-key-file", type=Path, metavar="FILE", help="read the bearer token from FILE")
    s.add_argument("--api-key", help="bearer token; visible to other users: prefer $CHURN_API_KEY or --api-key-file")
    plan = s.add_argument_group(
        "a plan within a budget (docs/campaign.md)",
        "expected value of a contact = p(churn) x retention rate x monthlycharges x horizon - contact cost; "
        "the output gets expected_value and contact columns",
    )
    plan.add_argument("--contact-cost", type=option.amount, metavar="AMOUNT", help="what one contact costs")
    plan.add_argument(
        "--retention-rate",
        type=option.plan_share,
        metavar="SHARE",
        help="share of contacted churners who stay (0 to 1)",
    )
    plan.add_argument(
        "--horizon-months", type=option.plan_count, metavar="N", help="months of monthlycharges a kept customer brings"
    )
    plan.add_argument("--budget", type=option.plan_count, metavar="N", help="contact at most N customers")
    plan.add_argument("--budget-amount", type=option.amount, metavar="AMOUNT", help="spend at most AMOUNT on contacts")
    s.add_argument("--report", type=Path, metavar="FILE.html", help="also write a self-contained HTML campaign report")
    return p


PLAN_NEEDS = ("contact_cost", "retention_rate", "horizon_months")
PLAN_OPTIONS = (*PLAN_NEEDS, "budget", "budget_amount")


def plan_options(args: argparse.Namespace) -> PlanOptions | None:
    """The plan the options ask for (None: none); a usage error for values no plan can use."""
    given = [name for name in PLAN_OPTIONS if getattr(args, name) is not None]
    if not given:
        return None
    from churn.campaign.plan import PlanError, PlanOptions  # noqa: PLC0415 - numpy only when a plan is asked for

    missing = [f"--{name.replace('_', '-')}" for name in PLAN_NEEDS if getattr(args, name) is None]
    try:
        if missing:
            raise PlanError(f"a plan needs {', '.join(missing)} as well")
        return PlanOptions(args.contact_cost, args.retention_rate, args.horizon_months, args.budget, args.budget_amount)
    except PlanError as e:
        parser().error(str(e))


def make_scorer(args: argparse.Namespace, stop: threading.Event) -> ChunkScorer:
    if args.offline:
        prepare_offline_process()
        return offline_scorer(args.model, args.explain, args.threshold)
    policy = RetryPolicy(attempts=args.retries)
    client = ServiceClient(args.url, timeout=args.timeout, policy=policy, api_key=args.key, stop=stop)
    if args.use_jobs:
        return jobs_scorer(client, args.explain, stop, job_timeout=args.job_timeout)
    return online_scorer(client, args.explain)


def score(args: argparse.Namespace) -> int:
    stop = threading.Event()
    options = RunOptions(
        args.input, args.output, args.chunk_size, 1 if args.offline else args.concurrency,
        args.explain, args.threshold, args.resume, args.top,
        carry=args.plan is not None and args.report is None,  # a report reads segments and reasons back
    )  # fmt: skip
    try:
        # Hashing the input (for --resume) starts first, on its own thread: it overlaps loading the
        # model, a part of the run that keeps only one core busy. (Starting it before the imports load
        # numpy and Arrow was measured on 2026-12-02 too: no faster, 1.00x the wall time.)
        digest = BackgroundDigest(args.input)
        state = run(options, make_scorer(args, stop), Progress(), stop, digest)
    except KeyboardInterrupt:
        return fail(INTERRUPTED, f"interrupted; re-run with --resume to continue into {printable(args.output)}")
    except Unavailable as e:
        return fail(UNAVAILABLE, f"the service is unavailable ({e}); re-run with --resume to continue")
    except JobTimedOut as e:
        return fail(JOB_TIMEOUT, f"gave up waiting: {e} (--job-timeout); re-run with --resume to continue")
    except RequestRefused as e:
        hint = f"; {JOBS_DISABLED_HINT}" if e.code == Code.JOBS_DISABLED else ""
        return fail(REFUSED, f"the service refused the requests: {e}{hint}")
    except ModelChanged as e:
        return fail(REFUSED, f"the service refused the requests: {e}")
    except OSError as e:
        return fail(USAGE, system_refused(e, args.output))
    except (ResumeError, InputError, ConfigError, ModelLoadError, UnicodeDecodeError) as e:
        return fail(USAGE, str(e))
    # Every row is scored and durable from here on (a plan run's held rows: once the plan has written
    # them; until then its state claims none and --resume starts over): what is left (the plan, the
    # report, --top-output) is done again by --resume, whether it is interrupted or a file it writes
    # cannot be written.
    try:
        return finish(args, state)
    except KeyboardInterrupt:
        return fail(INTERRUPTED, f"interrupted; re-run with --resume to finish {printable(args.output)}")
    except NotWritten as e:
        return fail(USAGE, str(e))


class NotWritten(Exception):
    """A file the run writes after scoring could not be written; the message names its option."""


def finish(args: argparse.Namespace, state: RunState) -> int:
    """Apply the plan, write the report and --top-output, print the summary: the run's status."""
    outcome = None
    if args.plan or args.report or has_plan_columns(args.output):
        from churn.campaign.outcome import OutputMismatch  # noqa: PLC0415 - the plan's code only where it is used

        try:
            outcome = conclude(args, state.carried)
        except OSError as e:
            return fail(USAGE, system_refused(e, args.output))
        except (OutputMismatch, UnicodeDecodeError) as e:
            return fail(USAGE, str(e))
    summary = state.summary  # of every row in the output, this run's and those of the runs it resumed
    lines = summary.lines()
    if outcome is not None and outcome.plan is not None and outcome.figures is not None:
        lines += outcome.figures.lines(outcome.plan, summary.scored)
    if args.report:
        lines.append(f"report: {printable(args.report)}")
    print("\n".join(lines))
    if args.top_output:
        # the output's own columns (a plan's are not in the summary's rows: they come after the last row)
        top = [{c: r[c] for c in OUTPUT_COLUMNS} for r in summary.top]
        writing("--top-output", args.top_output, lambda: write_rows(args.top_output, top, OUTPUT_COLUMNS))
    return OK if summary.rejected == 0 else REJECTED_ROWS


def writing(option: str, path: Path, write: Callable[[], None]) -> None:
    """write(), or NotWritten naming the option and the file when the system refuses it."""
    try:
        write()
    except OSError as e:
        reason = e.strerror or str(e)
        raise NotWritten(
            f"{option} {printable(path)}: {reason}; every row is scored: fix it and re-run with --resume to write it"
        ) from None


def system_refused(e: OSError, output: Path) -> str:
    """An OSError as one line naming its file; for one of the output's own files (a full disk), how to go on."""
    reason = e.strerror or str(e)
    if e.filename is None:
        return reason
    path = Path(os.fsdecode(e.filename))
    for name, written in written_files(output).items():
        if path == written:
            return f"{name} {printable(path)}: {reason}; {RESUME_HINT}"
    return f"{printable(path)}: {reason}"


def conclude(args: argparse.Namespace, carried: Carried | None = None) -> Outcome:
    """The plan applied to the finished output (from what the offline engine carried, if it did), and
    the report written from it."""
    from churn.campaign.outcome import conclude as apply_plan  # noqa: PLC0415

    outcome = apply_plan(args.input, args.output, args.plan, for_report=args.report is not None, carried=carried)
    if args.report:
        from churn.campaign.report import write_report  # noqa: PLC0415 - matplotlib only where a report is drawn

        writing("--report", args.report, lambda: write_report(args.report, outcome, printable(args.input.name)))
    return outcome


def output_columns(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as f:
        return tuple(next(csv.reader(f), OUTPUT_COLUMNS))


def has_plan_columns(path: Path) -> bool:
    return output_columns(path)[-len(PLAN_COLUMNS) :] == PLAN_COLUMNS


def files_read(args: argparse.Namespace) -> dict[str, Path]:
    """The files a run reads, which none it writes may be; the model's files too, offline or not (the
    service and an offline run read them, and its card is what the service shows)."""
    files = {"the input": args.input, **model_files(args.model, "--model")}
    if args.api_key_file is not None:
        files["--api-key-file"] = args.api_key_file
    return files


def fail(status: int, message: str) -> int:
    print(f"campaign.py: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.offline == bool(args.url):
        parser().error("give exactly one of --url and --offline")
    if args.offline and args.use_jobs:
        parser().error("--async needs a service (--url)")
    if args.top_output is not None and args.top == 0:
        parser().error("--top-output needs --top N, the number of customers to write")
    if args.api_key is not None and args.api_key_file is not None:
        parser().error("give at most one of --api-key and --api-key-file")
    args.plan = plan_options(args)
    if args.report is not None:
        if args.report.suffix.lower() not in (".html", ".htm"):
            parser().error(f"--report writes an HTML file (FILE.html), not {printable(args.report)}")
        if importlib.util.find_spec("matplotlib") is None:  # before scoring, not after
            return fail(USAGE, REPORT_NEEDS_MATPLOTLIB)
    if (problem := option.output_problem(args)) is not None:
        parser().error(problem)
    try:
        check_written(files_read(args), written_files(args.output, args.top_output, args.report))
    except FileRefused as e:
        parser().error(str(e))
    if args.api_key is not None:
        print(f"campaign.py: {KEY_ON_COMMAND_LINE}", file=sys.stderr)
    try:
        args.key = None if args.offline else option.api_key(args.api_key_file, args.api_key)
    except option.ApiKeyError as e:
        return fail(USAGE, str(e))
    return score(args)


if __name__ == "__main__":
    sys.exit(main())
