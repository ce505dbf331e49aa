"""IAM enforcement on moto's server, with every decision written down (the deploy rehearsal).

moto enforces identity policies once `INITIAL_NO_AUTH_ACTION_COUNT` requests have been served
(`POST /moto-api/reset-auth` sets the count): it checks each request's SigV4 signature against
the caller's key (an IAM user's access key, or the temporary key of an assumed role and its
session token) and evaluates the caller's policies for `service:Action` (moto/core/authorization.py,
moto/iam/access_control.py). What it checks as the *resource* is the service's
`_determine_resource()`: SQS supplies the queue's ARN; DynamoDB and Secrets Manager supply
nothing, so moto evaluates them against `*` — and a statement whose `Resource` is an ARN then
never matches, which denies every call that real IAM would allow.

This module fills those gaps and adds a record:
- `_determine_resource` for DynamoDB (the table's ARN, `…/index/NAME` for an index query; every
  table of a batch or transaction is checked) and Secrets Manager (the secret's ARN, looked up
  by name or ARN; a secret that does not exist yet — CreateSecret — is `…:secret:NAME`);
- the IAM action of SQS's batch APIs: IAM has no `sqs:SendMessageBatch` (nor
  `DeleteMessageBatch`, `ChangeMessageVisibilityBatch`); AWS authorizes each batch call with the
  single-message action (the SQS API reference, "Permissions" of each batch action), while
  moto checks the API's own name and so denies what `sqs:SendMessage` allows;
- every decision moto takes (allowed or denied, principal, action, resource) appended as one
  JSON line to the audit file.

moto's own evaluator decides; nothing here allows or denies by itself.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_lock = threading.Lock()

# The IAM action that authorizes an API whose name is not an IAM action.
IAM_ACTION_OF = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _table_arn(handler: Any, table: str) -> str:
    return f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"


def _dynamodb_resources(handler: Any) -> list[str]:
    body = getattr(handler, "body", None) or {}
    if not isinstance(body, dict):
        return ["*"]
    tables: list[str] = []
    if isinstance(body.get("TableName"), str):
        arn = _table_arn(handler, body["TableName"])
        if isinstance(body.get("IndexName"), str):
            arn += f"/index/{body['IndexName']}"
        tables.append(arn)
    for name in (body.get("RequestItems") or {}).keys():
        tables.append(_table_arn(handler, name))
    for item in body.get("TransactItems") or []:
        for part in item.values() if isinstance(item, dict) else []:
            if isinstance(part, dict) and isinstance(part.get("TableName"), str):
                tables.append(_table_arn(handler, part["TableName"]))
    return tables or ["*"]


def _secret_resource(handler: Any) -> str:
    secret_id = handler._get_param("SecretId") or handler._get_param("Name")
    if not secret_id:
        return "*"
    secret = handler.backend.secrets.get(secret_id)
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    # Not found (yet): the ARN it would have, without the random suffix.
    return f"arn:aws:secretsmanager:{handler.region}:{handler.current_account}:secret:{secret_id}"


def _record(path: str, entry: dict[str, Any]) -> None:
    line = json.dumps(entry, sort_keys=True)
    with _lock, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def install(audit_path: str) -> None:
    """Patches moto (this process only) as the module documentation says."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequestBase
    from moto.secretsmanager.responses import SecretsManagerResponse

    original_authorize = DynamoHandler._authenticate_and_authorize_normal_action

    def authorize_every_table(self: Any, resource: str = "*") -> None:
        for arn in _dynamodb_resources(self):
            original_authorize(self, arn)

    DynamoHandler._authenticate_and_authorize_normal_action = authorize_every_table
    SecretsManagerResponse._determine_resource = _secret_resource

    original_check = IAMRequestBase.check_action_permitted

    def check_and_record(self: Any, resource: str) -> None:
        self._action = IAM_ACTION_OF.get(self._action, self._action)
        entry = {
            "principal": self._access_key.arn,
            "action": self._action,
            "resource": resource,
        }
        try:
            original_check(self, resource)
        except Exception:
            _record(audit_path, {**entry, "allowed": False})
            raise
        _record(audit_path, {**entry, "allowed": True})

    IAMRequestBase.check_action_permitted = check_and_record
