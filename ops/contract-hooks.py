"""The three rules of the contract that JSON Schema cannot state, told to the contract fuzzer.

openapi.json states each in words where it applies (the schema's `description`); the server
refuses a request that breaks one with 422 naming the field, and OrgMatrixAPITests check each by
hand. schemathesis cannot read words, so it would generate such a request as "valid" and report
the 422 as valid data refused. This filter drops exactly those generated cases: positive ones
(data the fuzzer means to be valid) that break one of the rules below. Negative cases, every
check, every other operation and every other request are untouched. Loaded by ops/contract
through SCHEMATHESIS_HOOKS; each rule here must match one the server checks (JSONBodyForm.swift).
"""

import atexit
import collections
import sys
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import schemathesis

# Bounds.amountFenMax: a line's value, quantity × unit amount, is at most this many fen.
AMOUNT_FEN_MAX = 10**15
# The unit amount of each line, per operation: the line's value is bounded where one is given.
UNIT_FIELDS = {"/v1/purchase-receipts": "unitCostFen", "/v1/sales-issues": "unitPriceFen", "/v1/pricing/quote": "unitCostFen"}
# Operations whose lines name each item at most once.
DISTINCT_ITEMS = {"/v1/transfers", "/v1/stock-counts"}


def line_value_fits(line: dict, unit_field: str) -> bool:
    unit = line.get(unit_field)
    if unit is None:
        return True
    with localcontext() as context:
        context.prec = 60
        value = (Decimal(line["quantity"]) * Decimal(unit)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return value <= AMOUNT_FEN_MAX


def unstated_rule_broken(path: str, body: dict) -> str | None:
    lines = body.get("lines") if isinstance(body.get("lines"), list) else []
    lines = [line for line in lines if isinstance(line, dict)]
    if path == "/v1/relations" and body.get("from") == body.get("to"):
        return "a relation from an org to itself"
    if path in UNIT_FIELDS and not all(line_value_fits(line, UNIT_FIELDS[path]) for line in lines):
        return "a line worth more than 10^15 fen"
    if path in DISTINCT_ITEMS and len({line.get("item") for line in lines}) != len(lines):
        return "an item on two lines"
    return None


# How many generated cases each rule dropped, printed when the run ends, so that a rule that
# starts dropping much of what the fuzzer generates shows.
dropped: collections.Counter = collections.Counter()


@atexit.register
def report() -> None:
    if dropped:
        counts = ", ".join(f"{rule} ({path}): {count}" for (path, rule), count in sorted(dropped.items()))
        print(f"contract-hooks: generated cases that break a rule JSON Schema cannot state, not sent: {counts}", file=sys.stderr)


def unstated_query_rule_broken(path: str, query: dict) -> str | None:
    sizes = [query.get(name) for name in ("from", "to")]
    if path == "/v1/ledger/consistency" and all(isinstance(size, int) for size in sizes) and sizes[0] > sizes[1]:
        return "a consistency proof from a larger tree to a smaller"
    return None


@schemathesis.hook
def filter_case(context, case) -> bool:
    if case.method.upper() == "GET" and isinstance(case.query, dict) and case.meta is not None and case.meta.generation.mode.is_positive:
        rule = unstated_query_rule_broken(case.operation.path, case.query)
        if rule is not None:
            dropped[(case.operation.path, rule)] += 1
        return rule is None
    if case.method.upper() != "POST" or not isinstance(case.body, dict):
        return True
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    rule = unstated_rule_broken(case.operation.path, case.body)
    if rule is not None:
        dropped[(case.operation.path, rule)] += 1
    return rule is None
