"""python-etcd3 0.12 (gRPC) `client.lock(LOCK, ttl=TTL)` as a test peer.

acquire(timeout=None): one attempt (a new lease, a transaction putting
/locks/<LOCK> if it does not exist); on failure the library waits for any event
on the key and tries again, forever. A waiter writes no key. The library does
not keep the lease alive: while holding, the peer calls lock.refresh() every
TTL/3, as a user of the library must.

Environment:
  ETCD_ENDPOINT  required, e.g. http://127.0.0.1:2379 (the gRPC port)
  MEMBER         a name for the events (c1)
  LOCK           the lock name (mylock)
  TTL            the lease TTL, s (the library's default 60)

Commands (stdin lines): release (lock.release()), stop (release if held,
exit 0). End of input = stop.

Events (stdout, one JSON object a line; leases in hex):
  {"ev":"started","member":..,"key":"/locks/<LOCK>"}
  {"ev":"waiting"}                 the first attempt failed
  {"ev":"acquired","lease":..,"attempts":n}   n attempts, each on a lease of its own
  {"ev":"released","ok":<the library's answer>}  {"ev":"stopped"}  {"ev":"error","error":..}
"""

import queue
import threading

import etcd3

from peer import commands, emit, endpoint, exit_clean, lease_hex, setting

_, host, port = endpoint()
member = setting("MEMBER", "c1")
ttl = int(setting("TTL", "60"))
cmds = commands()
ACQUIRED = object()  # put on the command queue by the acquiring thread

client = etcd3.client(host=host, port=port)
lock = client.lock(setting("LOCK", "mylock"), ttl=ttl)
emit("started", member=member, key=lock.key)

# Only watches the lock's transactions (the peer makes no other) to tell the
# first failed attempt; the retrying is the library's own.
transaction, attempts = client.transaction, {"failed": 0, "done": False}


def watched(*args, **kwargs):
    succeeded, responses = transaction(*args, **kwargs)
    if not succeeded and not attempts["done"]:
        attempts["failed"] += 1
        if attempts["failed"] == 1:
            emit("waiting")
    return succeeded, responses


client.transaction = watched


def acquire():
    lock.acquire(timeout=None)
    attempts["done"] = True
    cmds.put(ACQUIRED)


threading.Thread(target=acquire, daemon=True).start()
held = False
while True:
    try:
        cmd = cmds.get(timeout=ttl / 3 if held else None)
    except queue.Empty:  # time to keep the lease alive
        lock.refresh()
        continue
    if cmd is ACQUIRED:
        held = True
        emit("acquired", lease=lease_hex(lock.lease.id), attempts=attempts["failed"] + 1)
    elif cmd in ("release", "stop"):
        if held:
            held = False
            emit("released", ok=bool(lock.release()))
        elif cmd == "release":
            emit("error", error="nothing to release")
        if cmd == "stop":
            exit_clean()
    else:
        emit("error", error=f"unknown command: {cmd}")
