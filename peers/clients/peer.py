"""What the Python peers share: settings from the environment, events out, commands in.

Events are JSON objects, one per line on stdout ({"ev": "acquired", ...}).
Commands are lines on stdin; end of input reads as `stop`. Everything else a
library prints goes to stderr.
"""

import json
import os
import queue
import sys
import threading
import urllib.parse

_out = threading.Lock()


def _crash(exc_type, exc, tb):
    """An exception no one caught, in any thread: the traceback to stderr, an error event, exit 1."""
    sys.__excepthook__(exc_type, exc, tb)
    fail(f"{exc_type.__name__}: {exc}")


sys.excepthook = _crash
threading.excepthook = lambda a: _crash(a.exc_type, a.exc_value, a.exc_traceback)


def emit(ev, **fields):
    with _out:
        print(json.dumps({"ev": ev, **fields}), flush=True)


def setting(name, default=None):
    """The environment variable `name`, or `default`; a missing one without a default is fatal."""
    value = os.environ.get(name, default)
    if value is None:
        fail(f"{name} is not set")
    return value


def endpoint():
    """ETCD_ENDPOINT (required), e.g. http://127.0.0.1:2379, as (scheme, host, port)."""
    u = urllib.parse.urlparse(setting("ETCD_ENDPOINT"))
    if not u.hostname:
        fail("ETCD_ENDPOINT must be a URL such as http://127.0.0.1:2379")
    return u.scheme or "http", u.hostname, u.port or 2379


def lease_hex(lease_id):
    """A lease id (int, or decimal text as the JSON gateway gives it) in hex, as etcdctl prints it."""
    return None if lease_id is None else "%x" % int(lease_id)


def commands():
    """A queue of the command lines read from stdin (stripped, blank ones skipped); "stop" at end of input."""
    q = queue.Queue()

    def read():
        for line in sys.stdin:
            if line.strip():
                q.put(line.strip())
        q.put("stop")

    threading.Thread(target=read, daemon=True).start()
    return q


def fail(message):
    emit("error", error=message)
    os._exit(1)


def exit_clean():
    """Exit 0 at once: threads the libraries left blocked (a waiter's retry loop) do not hold the exit."""
    emit("stopped")
    sys.stdout.flush()
    os._exit(0)
