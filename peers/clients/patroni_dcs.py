"""Patroni 4's own etcd3 DCS (patroni.dcs.etcd3.Etcd3) as a test peer.

PostgreSQL does NOT run: this is not Patroni's HA loop, only the DCS calls
that loop makes, in its order, on Patroni's real class, so that the keys,
values and leases are written by Patroni's code. The member data is shaped as
Ha.touch_member (patroni/ha.py) builds it; the LSNs are made up (they grow by
1024 a loop), the timeline stays 1, nothing decides a failover but the rule
below. Methods called: Etcd3(config, get_mpp({})), reload_config, initialize,
set_config_value, set_history_value, attempt_to_acquire_leader, get_cluster,
update_leader (keeps the node's lease alive, writes /status), touch_member,
delete_leader; write_sync_state and set_failover_value when asked (SYNC,
FAILOVER_TO).

Roles:
  leader   initialize (the system identifier), set_config_value (the dynamic
           config), attempt_to_acquire_leader, set_history_value("[]"),
           touch_member as primary; then each LOOP_WAIT: get_cluster,
           update_leader, touch_member (on the first loop also
           write_sync_state and set_failover_value when SYNC, FAILOVER_TO)
  replica  touch_member as replica (xlog_location, replay_lsn, receive_lsn,
           replication_state "streaming"); each LOOP_WAIT: get_cluster,
           touch_member, and when the leader key is gone, the leader race
           (attempt_to_acquire_leader), as Ha does; a winner goes on as leader
Keys: /service/<SCOPE>/{initialize,config,history,status,leader,members/<NAME>};
leader and members/<NAME> are on the node's one lease (TTL).

Environment:
  ETCD_ENDPOINT  required, e.g. http://127.0.0.1:2379
  ROLE           leader (default) | replica
  NAME           the member name (pg1)
  SCOPE          the cluster name (demo)
  NAMESPACE      Patroni's namespace (its default /service/)
  TTL            the node lease's TTL, s (30)
  LOOP_WAIT      s between loops (10)
  RETRY_TIMEOUT  s (10)
  SYSID          leader: the system identifier written to initialize (7312345678901234567)
  PG_PORT        the port in conn_url (5432); api_url's is PG_PORT + 2576 (8008)
  SYNC           leader: a standby's name for /sync (write_sync_state); unset = none
  FAILOVER_TO    leader: a member's name for /failover, {"leader":NAME,"member":..}; unset = none

Commands (stdin lines):
  promote  replica: attempt_to_acquire_leader now (fails while a leader holds the key)
  release  leader: step down (delete_leader, then a replica that does not race
           until `promote`)
  stop     clean shutdown in Ha.shutdown's order: a leader calls
           delete_leader(leader, last_lsn) (writes /status, then deletes the
           leader key if it is ours); then touch_member with state "stopped";
           exit 0. The node's lease is not revoked (Patroni does not).
End of input = stop.

Events (stdout, one JSON object a line; leases in hex):
  {"ev":"initialized","ok":..}                  leader role
  {"ev":"elected","lease":..}                   took the leader key
  {"ev":"not_elected","leader":<name or null>}  an attempt that failed
  {"ev":"joined","role":..,"lease":..}          first member key
  {"ev":"lost_leader","leader":..}              our leader key is gone or not ours
  {"ev":"released"}  {"ev":"stopped"}  {"ev":"error","error":..}
"""

import json
import queue

from patroni.dcs.etcd3 import Etcd3
from patroni.postgresql.mpp import get_mpp

from peer import commands, emit, endpoint, exit_clean, fail, lease_hex, setting

_, host, port = endpoint()
name, scope, role = setting("NAME", "pg1"), setting("SCOPE", "demo"), setting("ROLE", "leader")
if role not in ("leader", "replica"):
    fail(f"ROLE must be leader or replica, not {role}")
ttl, loop_wait = int(setting("TTL", "30")), int(setting("LOOP_WAIT", "10"))
timing = {"ttl": ttl, "loop_wait": loop_wait, "retry_timeout": int(setting("RETRY_TIMEOUT", "10"))}
pg_port = int(setting("PG_PORT", "5432"))
config = {"scope": scope, "name": name, "host": f"{host}:{port}", **timing}
if setting("NAMESPACE", ""):
    config["namespace"] = setting("NAMESPACE")
cmds = commands()

dcs = Etcd3(config, get_mpp({}))
dcs.reload_config(timing)
lsn = 50331648
first_loop = True  # of a leader: /sync and /failover when asked
racing = True  # a replica takes part in the leader race (off after `release`)


def member_data(state="running"):
    """As Ha.touch_member builds it (a primary's role is "primary", a replica's "replica")."""
    data = {"conn_url": f"postgres://127.0.0.1:{pg_port}/postgres",
            "api_url": f"http://127.0.0.1:{pg_port + 2576}/patroni",
            "state": state, "role": "primary" if role == "leader" else "replica", "version": "4.1.5"}
    if state == "running":
        data["xlog_location"] = lsn
        if role == "replica":
            data.update(replay_lsn=lsn, receive_lsn=lsn, replication_state="streaming")
        data["timeline"] = 1
    return data


def race():
    """The leader race; True when we took the key."""
    global role
    if dcs.attempt_to_acquire_leader():
        role = "leader"
        emit("elected", lease=lease_hex(dcs._lease))
        return True
    leader = dcs.get_cluster().leader
    emit("not_elected", leader=leader and leader.name)
    return False


if role == "leader":
    emit("initialized", ok=bool(dcs.initialize(create_new=True, sysid=setting("SYSID", "7312345678901234567"))))
    dcs.set_config_value(json.dumps({**timing, "maximum_lag_on_failover": 1048576, "postgresql": {
        "use_pg_rewind": True, "parameters": {"max_connections": 100}}}, separators=(",", ":")))
    role = "replica"
    if race():
        dcs.set_history_value("[]")
dcs.touch_member(member_data())
emit("joined", role=role, lease=lease_hex(dcs._lease))

while True:
    try:
        cmd = cmds.get(timeout=loop_wait)
    except queue.Empty:
        cmd = None
    cluster = dcs.get_cluster()
    mine = cluster.leader is not None and cluster.leader.name == name
    if cmd == "stop":  # Ha.shutdown
        if role == "leader" and mine:
            dcs.delete_leader(cluster.leader, lsn)
        dcs.touch_member(member_data("stopped"))
        exit_clean()
    elif cmd == "release":
        if role == "leader" and mine:
            dcs.delete_leader(cluster.leader, lsn)
            role, racing = "replica", False
            emit("released")
        else:
            emit("error", error="not the leader")
    elif cmd == "promote":
        racing = True
        if role == "replica" and race():
            cluster, mine = dcs.get_cluster(), True
    elif cmd is not None:
        emit("error", error=f"unknown command: {cmd}")
    lsn += 1024
    if role == "leader":
        if mine:
            dcs.update_leader(cluster, lsn)
            if first_loop and setting("SYNC", ""):
                dcs.write_sync_state(name, [setting("SYNC")], 0, version=cluster.sync.version)
            if first_loop and setting("FAILOVER_TO", ""):
                dcs.set_failover_value(json.dumps({"leader": name, "member": setting("FAILOVER_TO")}))
            first_loop = False
        else:
            role = "replica"
            emit("lost_leader", leader=cluster.leader and cluster.leader.name)
    elif racing and cluster.leader is None:
        race()
    dcs.touch_member(member_data())
