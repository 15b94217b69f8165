"""OpenStack tooz (the etcd3+http:// driver, over etcd3gw) as a test peer.

A coordinator (`get_coordinator(url, MEMBER).start(start_heart=True)`: one
membership lease, refreshed by tooz's heart thread) in one of two roles:
  member  create_group(GROUP) (an existing one is fine), join_group(GROUP, CAPS)
  lock    get_lock(LOCK).acquire(blocking=True): tooz retries until it holds
          the lock; a waiter writes no key

Environment:
  ETCD_ENDPOINT       required, e.g. http://127.0.0.1:2379
  ROLE                member (default) | lock
  MEMBER              the member id (member-1)
  GROUP               member: the group (g1)
  CAPS                member: capabilities as JSON, e.g. {"host":"10.0.0.1","port":8001}
                      (stored as msgpack); unset = tooz's default (empty)
  LOCK                lock: the lock name (mylock; the key is /tooz/locks<name>)
  MEMBERSHIP_TIMEOUT  TTL of the membership lease, s (tooz's default 30)
  LOCK_TIMEOUT        TTL of each lock attempt's lease, s (tooz's default 30)

Commands (stdin lines): release (member: leave_group; lock: release it),
stop (release what is held, coordinator.stop(), exit 0). End of input = stop.

Events (stdout, one JSON object a line; leases in hex):
  {"ev":"started","member":..,"lease":<membership lease>}
  {"ev":"joined","group":..,"lease":..}             member
  {"ev":"waiting"}                                   lock: the first attempt failed
  {"ev":"acquired","lease":<the lock's lease>,"attempts":n}   lock: n attempts, a lease each
  {"ev":"released"}  {"ev":"stopped"}  {"ev":"error","error":..}
"""

import json
import threading

from tooz import coordination

from peer import commands, emit, endpoint, exit_clean, fail, lease_hex, setting

scheme, host, port = endpoint()
query = "&".join(
    f"{k}={setting(v)}" for k, v in (("membership_timeout", "MEMBERSHIP_TIMEOUT"), ("lock_timeout", "LOCK_TIMEOUT"))
    if setting(v, "")
)
url = f"etcd3+{scheme}://{host}:{port}" + (f"?{query}" if query else "")
member = setting("MEMBER", "member-1")
role = setting("ROLE", "member")
cmds = commands()
ACQUIRED = object()  # put on the command queue by the acquiring thread

coordinator = coordination.get_coordinator(url, member.encode())
coordinator.start(start_heart=True)
emit("started", member=member, lease=lease_hex(coordinator._membership_lease.id))

held = False  # joined (member) or holding the lock (lock)

if role == "member":
    group = setting("GROUP", "g1").encode()
    try:
        coordinator.create_group(group).get()
    except coordination.GroupAlreadyExist:
        pass
    caps = setting("CAPS", "")
    (coordinator.join_group(group, json.loads(caps)) if caps else coordinator.join_group(group)).get()
    held = True
    emit("joined", group=group.decode(), lease=lease_hex(coordinator._membership_lease.id))

    def release():
        coordinator.leave_group(group).get()

elif role == "lock":
    lock = coordinator.get_lock(setting("LOCK", "mylock").encode())
    # Only watches the lock's transactions (the role makes no other) to tell
    # the first failed attempt; the retrying is tooz's own.
    transaction, attempts = coordinator.client.transaction, {"failed": 0, "done": False}

    def watched(txn):
        result = transaction(txn)
        if not result.get("succeeded") and not attempts["done"]:
            attempts["failed"] += 1
            if attempts["failed"] == 1:
                emit("waiting")
        return result

    coordinator.client.transaction = watched

    def acquire():
        lock.acquire(blocking=True)
        attempts["done"] = True
        cmds.put(ACQUIRED)

    threading.Thread(target=acquire, daemon=True).start()

    def release():
        lock.release()

else:
    fail(f"ROLE must be member or lock, not {role}")

while True:
    cmd = cmds.get()
    if cmd is ACQUIRED:
        held = True
        emit("acquired", lease=lease_hex(lock._lease.id), attempts=attempts["failed"] + 1)
    elif cmd in ("release", "stop"):
        if held:
            release()
            held = False
            emit("released")
        elif cmd == "release":
            emit("error", error="nothing to release")
        if cmd == "stop":
            coordinator.stop()
            exit_clean()
    else:
        emit("error", error=f"unknown command: {cmd}")
