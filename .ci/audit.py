"""`make audit`: pip-audit over the installed environment, saying plainly when it could not audit.

pip-audit asks a vulnerability database on the network (PyPI's JSON API, or OSV). Offline, or behind a
package mirror that does not serve it, every dependency comes back "could not be audited": that is reported
as NOT AUDITED, never as a pass. Exit status: 1 when a known vulnerability is found; 1 when nothing could be
audited and LIVEVAULT_REQUIRE_AUDIT=1; else 0 (with the NOT AUDITED banner on stderr).
Known vulnerabilities that do not apply are listed in IGNORED with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# vulnerability id -> why it does not apply to livevault (none today)
IGNORED: dict[str, str] = {}


def main() -> int:
    args = [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off", "-f", "json"]
    for vuln in IGNORED:
        args += ["--ignore-vuln", vuln]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(proc.stderr[-2000:])
        return _not_audited("pip-audit did not answer a report (the vulnerability database is unreachable?)")
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            sys.stdout.write(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})\n")
    if vulnerable:
        return 1
    if not audited:
        return _not_audited(f"none of {len(deps)} dependencies could be audited: the vulnerability database "
                            "(PyPI JSON API / OSV) is not reachable from here")
    skipped = len(deps) - len(audited)
    sys.stdout.write(f"pip-audit: {len(audited)} dependencies audited, no known vulnerabilities"
                     + (f"; {skipped} not audited (not on PyPI)" if skipped else "") + "\n")
    return 0


def _not_audited(reason: str) -> int:
    sys.stderr.write(f"\n*** pip-audit: NOT AUDITED: {reason}. ***\n"
                     "*** Run `make audit` where PyPI or api.osv.dev is reachable. ***\n\n")
    return 1 if os.environ.get("LIVEVAULT_REQUIRE_AUDIT") == "1" else 0


if __name__ == "__main__":
    raise SystemExit(main())
