"""Reads Prometheus' text exposition on stdin with the reference Python
parser (prometheus_client) and writes its families as JSON:
{family: {"type", "help", "samples": [{"name", "labels", "value"}]}}.
A text the parser refuses exits non-zero with its error (server/tests/overview.rs)."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(value):
    return value if math.isfinite(value) else str(value)


families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in families:
        sys.exit(f"family {family.name} appears twice")
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": number(s.value)} for s in family.samples],
    }
json.dump(families, sys.stdout)
