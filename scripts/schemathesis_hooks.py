"""Schemathesis hooks of scripts/schemathesis.sh (docs/api.md, "Contract testing").

Every check stays on. One hook drops the "schema-valid request rejected" failures (ST202) whose
refusal is a documented rule that JSON Schema cannot state, and only those: every detail of the
400 must be such a rule, so a request that also breaks anything a schema can describe still
fails the run. The rules:

- A list cursor (`cursor` on GET /api/streams and GET /api/webhooks/deliveries) is opaque, signed
  by the service and bound to the filters it was issued with: the schema says "a non-empty
  string", not "issued by this service for these filters", so a made-up cursor is refused with
  INVALID_CURSOR (docs/api.md, "Lists and cursors").
- A StrKey's checksum (CRC16-XModem over its base32 payload): the schema gives its shape,
  `^[GC][A-Z2-7]{55}$`, so a value of that shape with a wrong checksum is refused with
  STRKEY_INVALID (docs/api.md, "Field codes"). Only values of that shape are covered here.
  The same for the `contractId` of a pushed event or lookback window (CONTRACT_ID_INVALID, shape
  `^C[A-Z2-7]{55}$`).
- POST /api/streams compares fields with each other (docs/api.md, "Create rules"): sender and
  recipient differ, endTime after startTime, cliffTime within them, the deposit covers
  rate x (end - start), a default end time within range. Each is reported on its field with
  VALIDATION_ERROR (TIME_OUT_OF_RANGE for the default end time); a rule on one field alone (an
  amount of 0) is not among them.
- An amount's i128 range: the schema's pattern gives the format of a positive decimal, and the
  field's description the maximum (i128::MAX stroops, `17014118346046923173168730371588.4105727`),
  which a pattern could state only digit by digit; a larger amount of that format is refused with
  DECIMAL_OUT_OF_RANGE (docs/api.md, "Field codes"). Only values of 32 or more integer digits are
  covered here.
- POST /internal/indexer/events takes the contract's storage entries as base64 XDR: the schema
  says "base64", not "a `LedgerEntryData` of a stream of this contract", so base64 that is not one
  is refused with LEDGER_ENTRY_INVALID (docs/indexer.md, "Push ingest"). Only base64 values are
  covered here.
- POST /internal/indexer/events compares a pushed event's fields with its `id` (docs/indexer.md):
  the ledger and the transaction and operation indexes the id encodes must be the event's
  `ledger`, `transactionIndex` and `operationIndex` (EVENT_ID_LEDGER_MISMATCH; the index codes
  with "but the event id encodes").
"""

import re

import schemathesis

LIST_OPERATIONS = {("GET", "/api/streams"), ("GET", "/api/webhooks/deliveries")}
CREATE_STREAM = ("POST", "/api/streams")
PUSH_INGEST = ("POST", "/internal/indexer/events")
STRKEY_SHAPE = re.compile(r"^[GC][A-Z2-7]{55}$")
CONTRACT_SHAPE = re.compile(r"^C[A-Z2-7]{55}$")
EVENT_FIELD = re.compile(r"^(events|lookbackWindows)\[(\d+)\]\.(\w+)$")
# A decimal whose integer part has 32 or more significant digits (at or above 10^31 units).
BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$")
ENTRY_FIELD = re.compile(r"^ledgerEntries\[(\d+)\]\.(\w+)$")
HUGE_DECIMAL = re.compile(r"^0*[1-9][0-9]{31,}(\.[0-9]{1,7})?$")

# (field, code, words of the message) of POST /api/streams' cross-field rules.
STREAM_RULES = [
    ("recipient", "VALIDATION_ERROR", "different from sender"),
    ("endTime", "VALIDATION_ERROR", "after startTime"),
    ("cliffTime", "VALIDATION_ERROR", "between startTime and endTime"),
    ("depositAmount", "VALIDATION_ERROR", "ratePerSecond"),
    ("endTime", "TIME_OUT_OF_RANGE", "default endTime"),
]


def _details(response):
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(details, list) or not details:
        return None
    if not all(isinstance(detail, dict) for detail in details):
        return None
    return details


def _sent(case, field):
    """The value the request sent for `field`: a query parameter, a top-level body field, or
    `events[i].name` / `lookbackWindows[i].name` of a pushed batch."""
    query = case.query or {}
    if field in query:
        return query[field]
    body = case.body
    if not isinstance(body, dict):
        return None
    pushed = EVENT_FIELD.match(field or "")
    if pushed:
        items = body.get(pushed.group(1))
        index = int(pushed.group(2))
        if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
            return items[index].get(pushed.group(3))
        return None
    return body.get(field)


def _entry_field(case, field):
    """The value a pushed batch sent for `ledgerEntries[i].name`."""
    match = ENTRY_FIELD.match(field or "")
    body = case.body
    if not match or not isinstance(body, dict):
        return None
    entries = body.get("ledgerEntries")
    index = int(match.group(1))
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        return entries[index].get(match.group(2))
    return None


def _inexpressible(operation, case, detail):
    field, code = detail.get("field"), detail.get("code")
    message = detail.get("message") or ""
    if code == "INVALID_CURSOR":
        return operation in LIST_OPERATIONS and field == "cursor" and bool(_sent(case, "cursor"))
    if code == "STRKEY_INVALID":
        value = _sent(case, field)
        return isinstance(value, str) and STRKEY_SHAPE.match(value) is not None
    if code == "DECIMAL_OUT_OF_RANGE":
        value = _sent(case, field)
        return isinstance(value, str) and HUGE_DECIMAL.match(value) is not None
    if operation == CREATE_STREAM:
        return any(
            field == rule_field and code == rule_code and words in message
            for rule_field, rule_code, words in STREAM_RULES
        )
    if operation == PUSH_INGEST:
        if code == "CONTRACT_ID_INVALID":
            value = _sent(case, field)
            return isinstance(value, str) and CONTRACT_SHAPE.match(value) is not None
        if code == "LEDGER_ENTRY_INVALID":
            value = _entry_field(case, field)
            return isinstance(value, str) and BASE64.match(value) is not None
        if code == "EVENT_ID_LEDGER_MISMATCH":
            return True
        if code in {"OPERATION_INDEX_INVALID", "TRANSACTION_INDEX_INVALID"}:
            return "but the event id encodes" in message
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure but the documented, schema-inexpressible refusals above."""
    if failure.code != "ST202" or response.status_code != 400:
        return True
    details = _details(response)
    if details is None:
        return True
    operation = (case.operation.method.upper(), case.operation.path)
    return not all(_inexpressible(operation, case, detail) for detail in details)
