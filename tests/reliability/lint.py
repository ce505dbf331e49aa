"""Lints our OpenAPI description: a valid OpenAPI 3.1 document (openapi-spec-validator, every
$ref resolved), and our own rules — every /api/* operation requires the Pipedrive bearer token,
documents at least one success and its problem+json errors, and every response has a body or
is a 204/3xx. Prints what it checked; exits 1 on the first list of findings."""

import sys

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def main(path: str) -> int:
    spec, _ = read_from_filename(path)
    if not str(spec.get("openapi", "")).startswith("3.1"):
        print(f"{path}: openapi is {spec.get('openapi')!r}, expected 3.1.x")
        return 1
    validate(spec)
    findings = []
    operations = 0
    api_operations = 0
    global_security = spec.get("security")
    for route, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            operations += 1
            where = f"{method.upper()} {route}"
            responses = op.get("responses", {})
            if not responses:
                findings.append(f"{where}: no responses documented")
                continue
            if not any(str(code).startswith(("2", "3")) for code in responses):
                findings.append(f"{where}: no success response documented")
            for code, response in responses.items():
                if "$ref" in response:
                    continue
                if str(code).startswith("2") and code != "204" and "content" not in response:
                    findings.append(f"{where}: {code} has no content")
            if route.startswith("/api/"):
                api_operations += 1
                security = op.get("security", global_security)
                if not security:
                    findings.append(f"{where}: no security requirement (the bearer token)")
                errors = [c for c in responses if str(c).startswith("4")]
                if "401" not in errors:
                    findings.append(f"{where}: 401 (token refused) not documented")
                for code in errors:
                    ref = responses[code].get("$ref", "")
                    content = responses[code].get("content", {})
                    if not ref.endswith("/Problem") and "application/problem+json" not in content:
                        findings.append(f"{where}: {code} is not a problem+json answer")
    if findings:
        print(f"{path}: {len(findings)} finding(s):")
        for f in findings:
            print(f"  - {f}")
        return 1
    print(f"{path}: valid OpenAPI {spec['openapi']}; {operations} operations, {api_operations} under /api/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/openapi.yaml"))
