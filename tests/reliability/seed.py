"""Seeds the local server for fuzzing: POST /_local/seed-tenant (company 1001 connected to the
simulated US realm, user 101 installed as an admin, a one-hour signed token), then gives the
company real data through the API — customer and item links and one invoice on deal 1 — so the
fuzzer's calls also reach success answers. Prints the token (only) on stdout."""

import json
import sys
import urllib.error
import urllib.request
import uuid


def call(base, method, path, token=None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def must(result, what, *ok):
    status, body = result
    if status not in ok:
        sys.exit(f"seeding failed at {what}: {status} {body}")
    return body


def main(base):
    seeded = must(call(base, "POST", "/_local/seed-tenant", body={"valid_secs": 3600}), "seed-tenant", 200)
    token = seeded["token"]
    must(call(base, "PUT", "/api/deals/1/customer-link", token,
              {"customer_id": "4", "update_customer": False}), "customer link", 200)
    for product, item in [(1, "3"), (2, "1"), (3, "2"), (4, "3"), (6, "4")]:
        must(call(base, "PUT", f"/api/products/{product}/item-link", token, {"item_id": item}),
             f"item link {product}", 200)
    draft = must(call(base, "GET", "/api/deals/1/draft", token), "draft", 200)
    form = draft["form"]
    if draft.get("tax_note") and not form.get("txn_tax_code"):
        # The deal's 19 % matches none of the US company's sales tax rates, so none is
        # pre-selected: choose California's, as a rep would.
        form["txn_tax_code"] = "2"
    must(call(base, "POST", "/api/deals/1/invoices", token, form,
              {"idempotency-key": str(uuid.uuid4())}), "invoice", 201)
    print(token)


if __name__ == "__main__":
    main(sys.argv[1])
