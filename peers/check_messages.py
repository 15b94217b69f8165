"""Checks WebSocket messages against the server's OpenAPI document.

    check_messages.py OPENAPI_JSON MESSAGES [MESSAGES...]

Each MESSAGES file holds JSON messages one after another (JSON lines, or the
```json blocks of docs/websocket.md). A message with an elision (`[...]`,
`{...}`, `, ...`) is an outline, not an example: it is counted and skipped. A message whose `type` is `subscribe`, `unsubscribe` or
`ping` must match the component `ClientMsg`; any other must match
`ServerMsg`, and what it carries must match the schema of its topic: a
snapshot's `data` the topic's body, an upsert's or append's `value` the
topic's entity (docs/websocket.md, "Topics"). Prints one line per message
that does not, and exits 1 if any does not, 2 if there was nothing to check.
"""

import json
import sys

import jsonschema_rs

# docs/websocket.md, "Topics": (snapshot `data`, op `value`) by topic kind.
TOPICS = {
    "cluster": ("ClusterBody", "Member"),
    "ops": ("OpsBody", "OpsMember"),
    "metrics": ("MetricsHistoryBody", "Series"),
    "storm": ("StormBody", "Storm"),
    "services": ("ServicesBody", "ServiceSummary"),
    "service": ("ServiceBody", "Instance"),
    "leases": ("LeasesBody", "Lease"),
    "locks": ("LocksBody", "Lock"),
    "elections": ("ElectionsBody", "Election"),
    "events": ("EventsBody", "Event"),
    "kv": ("KvListBody", "Kv"),
    "kv-dir": ("KvDirBody", "KvDirEntry"),
}

CLIENT_TYPES = {"subscribe", "unsubscribe", "ping"}


def validator(document, name):
    components = document.get("components", {})
    if name not in components.get("schemas", {}):
        raise SystemExit(f"the document has no component {name!r}")
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    return jsonschema_rs.Draft202012Validator(schema)


ELIDED = "\u2026elided\u2026"


def messages(path):
    text = open(path, encoding="utf-8").read()
    for outline, marked in (("[...]", f'["{ELIDED}"]'), ("{...}", f'{{"{ELIDED}":0}}'), (", ...", f', "{ELIDED}"')):
        text = text.replace(outline, marked)
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return
        message, at = decoder.raw_decode(text, at)
        yield message


def topic_kind(topic):
    return topic.split(":", 1)[0] if ":" in topic else topic


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    document = json.load(open(argv[1], encoding="utf-8"))
    client, server = validator(document, "ClientMsg"), validator(document, "ServerMsg")
    bodies = {kind: (validator(document, body), validator(document, entity)) for kind, (body, entity) in TOPICS.items()}
    # The `metrics` topic's one upsert: id `losses`, a list of ServiceLoss.
    service_loss = validator(document, "ServiceLoss")
    checked, outlines, failures = 0, 0, []

    def check(what, schema, value, where):
        errors = [f"{e.message} at {list(e.instance_path)}" for e in schema.iter_errors(value)]
        if errors:
            failures.append(f"{where}: {what}: {'; '.join(errors[:3])}: {json.dumps(value)[:300]}")

    for path in argv[2:]:
        for number, message in enumerate(messages(path), 1):
            if ELIDED in json.dumps(message, ensure_ascii=False):
                outlines += 1
                continue
            checked += 1
            where = f"{path} #{number}"
            kind = message.get("type") if isinstance(message, dict) else None
            if kind in CLIENT_TYPES:
                check("ClientMsg", client, message, where)
                continue
            check("ServerMsg", server, message, where)
            topic = message.get("topic") if kind in ("snapshot", "patch") else None
            if not isinstance(topic, str) or topic_kind(topic) not in bodies:
                continue
            body, entity = bodies[topic_kind(topic)]
            if kind == "snapshot":
                check(TOPICS[topic_kind(topic)][0], body, message.get("data"), where)
            for op in message.get("ops") or []:
                if not isinstance(op, dict) or "value" not in op:
                    continue
                if topic_kind(topic) == "metrics" and op.get("id") == "losses":
                    if not isinstance(op["value"], list):
                        failures.append(f"{where}: losses is not a list: {json.dumps(op['value'])[:300]}")
                    for loss in op["value"] if isinstance(op["value"], list) else []:
                        check("ServiceLoss", service_loss, loss, where)
                    continue
                check(TOPICS[topic_kind(topic)][1], entity, op["value"], where)
    for failure in failures:
        print(failure)
    print(f"{checked} message(s) checked, {len(failures)} not as documented, {outlines} outline(s) skipped")
    if checked == 0:
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
