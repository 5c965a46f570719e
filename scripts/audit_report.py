"""Read pip-audit's JSON report, audit what it could not, print the verdict, exit non-zero on a finding.

pip-audit asks PyPI for each pinned version's record (/pypi/NAME/VERSION/json). Where that record
cannot be had (some networks serve only the project-level record), the project-level record
(/pypi/NAME/json) still lists the known vulnerabilities of the project's latest release: a locked
package at its latest release is audited from there; any other stays "not audited" and is listed.
Usage: audit_report.py REPORT.json REQUIREMENTS.txt INDEX_URL IGNORED_ID...
With CHURN_AUDIT_STRICT=1 a package that could not be audited fails the run too.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from urllib.parse import urlsplit


def project_record(index_url: str, name: str) -> dict | None:
    parts = urlsplit(index_url)
    url = f"{parts.scheme}://{parts.netloc}/pypi/{name}/json"  # the JSON API beside the simple index
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - the configured index
            return json.load(response)
    except (OSError, ValueError):
        return None


def pinned(requirements_path: str) -> dict[str, str]:
    """name -> version of every `name==version` line (pip-audit's skipped entries carry no version)."""
    with open(requirements_path) as f:
        pins = (line.split(";")[0].split()[0] for line in f if "==" in line.split(";")[0])
        return {name.lower(): version for name, version in (pin.split("==", 1) for pin in pins)}


def main(report_path: str, requirements_path: str, index_url: str, *ignored: str) -> int:
    with open(report_path) as f:
        deps = json.load(f)["dependencies"]
    versions = pinned(requirements_path)
    for dep in deps:
        dep.setdefault("version", versions.get(dep["name"].lower(), "?"))
    found, unaudited, fallback = [], [], 0
    for dep in deps:
        vulns = dep.get("vulns", [])
        if dep.get("skip_reason"):
            record = project_record(index_url, dep["name"]) if index_url.startswith("http") else None
            if record is None or record["info"]["version"] != dep["version"]:
                unaudited.append(f"{dep['name']} {dep['version']}")
                continue
            fallback += 1
            vulns = [
                {"id": v["id"], "fix_versions": v.get("fixed_in", [])}
                for v in record.get("vulnerabilities", [])
                if not v.get("withdrawn")
            ]
        found += [(dep["name"], dep["version"], v) for v in vulns if v["id"] not in ignored]
    for name, version, v in found:
        print(f"VULNERABLE {name} {version}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release'})")
    audited = len(deps) - len(unaudited)
    print(f"pip-audit: {audited} of {len(deps)} locked packages audited ({fallback} from their project's "
          f"record of its latest release), {len(found)} known vulnerabilities not explained")  # fmt: skip
    if unaudited:
        print("not audited (no vulnerability record for these versions here): " + ", ".join(unaudited))
        if os.environ.get("CHURN_AUDIT_STRICT") == "1":
            print("CHURN_AUDIT_STRICT=1: every package must be audited", file=sys.stderr)
            return 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
