"""Prints the reliability counts of a run in one block and writes them to
target/reliability/summary.json: routes fuzzed and examples (schemathesis, this run), faults
injected (tests/tests/reliability_faults.rs), attacks tried (reliability_hostile.rs), the
tenant-isolation and data-lifecycle checks (reliability_isolation.rs, reliability_lifecycle.rs).
Usage: summary.py <target/reliability> <openapi.yaml> <schemathesis exit status>"""

import json
import re
import sys
from pathlib import Path

from openapi_spec_validator.readers import read_from_filename

METHODS = {"get", "put", "post", "delete", "patch"}


def suite(out: Path, name: str) -> dict:
    path = out / f"{name}.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def main(out: Path, openapi: str, status: int) -> None:
    spec, _ = read_from_filename(openapi)
    api_ops = sum(
        1
        for route, item in spec["paths"].items()
        if route.startswith("/api/")
        for method in item
        if method in METHODS
    )
    log = (out / "schemathesis.log").read_text(errors="replace") if (out / "schemathesis.log").exists() else ""
    tested = re.search(r"Tested:\s+(\d+)", log)
    generated = re.search(r"(\d+) generated", log)
    failures = re.search(r"(\d+) found (\d+) unique failures", log)
    fuzz = {
        "api_operations_described": api_ops,
        "routes_fuzzed": int(tested.group(1)) if tested else 0,
        "examples": int(generated.group(1)) if generated else 0,
        "unique_failures": int(failures.group(2)) if failures else 0,
        "schemathesis_exit": status,
    }
    faults = suite(out, "faults")
    hostile = suite(out, "hostile")
    isolation = suite(out, "isolation")
    lifecycle = suite(out, "lifecycle")
    summary = {"fuzz": fuzz, "faults": faults, "hostile": hostile, "isolation": isolation, "lifecycle": lifecycle}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    def line(label, text):
        print(f"  {label:<22} {text}")

    print("\n==> reliability counts")
    line("routes fuzzed", f"{fuzz['routes_fuzzed']} of {api_ops} /api/* operations (schemathesis), "
         f"{fuzz['examples']} examples, {fuzz['unique_failures']} failures")
    if faults:
        f = faults.get("faults", {})
        line("faults injected", f"{faults['faults_injected']} ({f.get('server_errors')} 5xx, {f.get('timeouts')} timeouts, "
             f"{f.get('throttled')} 429s) + {faults.get('token_expiries')} token expiries "
             f"({faults.get('token_endpoint_calls')} token-endpoint calls) over {faults['operations']} operations: "
             f"{faults['requests']} requests, {faults['retries']} retries, {faults['invoices_created']} invoices, "
             f"{faults['links_checked_after_sync']} links true after the final sync")
    else:
        line("faults injected", "not run (cargo test -p integration-tests --test reliability_faults)")
    if hostile:
        kinds = ", ".join(f"{k} {v}" for k, v in hostile.get("by_kind", {}).items())
        line("attacks tried", f"{hostile['attacks_tried']} ({kinds})")
    else:
        line("attacks tried", "not run (cargo test -p integration-tests --test reliability_hostile)")
    if isolation:
        line("tenant isolation", f"{isolation['cross_company_calls']} cross-company calls over {isolation['api_routes']} /api routes, "
             f"none with the other company's data; {isolation['id_scoped_refused']} of {isolation['id_scoped_calls']} "
             f"id-scoped calls → 404")
    else:
        line("tenant isolation", "not run")
    if lifecycle:
        line("data lifecycle", f"{lifecycle['items_of_company_before']} items + 1 secret of the uninstalled company → "
             f"{lifecycle['items_of_company_after']} items, 0 secrets (table scanned: {lifecycle['table_items_scanned']} items left, "
             f"all the other company's)")
    else:
        line("data lifecycle", "not run")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
