#!/usr/bin/env python3
"""A target executable for in-mem's crash testers, in Python: SQLite through
Python's built-in sqlite3 module, speaking the target protocol
(docs/target-protocol.md in the repository) on stdin and stdout.

It serves two configurations:

  py-sqlite      WAL journal, synchronous=FULL: every commit is synced
  py-sqlite-off  WAL journal, synchronous=OFF: SQLite never syncs

Run it under the testers as any target executable:

  go run ./cmd/inmem crash kill --target py-sqlite \
      --target-binary crashtargets/python/sqlite_target.py

It uses nothing but the standard library, answers one request at a time,
and never exits on an engine error: every failure is an error reply.
"""

import json
import os
import sqlite3
import sys

PROTOCOL = 1

TARGETS = {
    "py-sqlite": {"synchronous": "FULL", "power_safe": True,
                  "about": "SQLite " + sqlite3.sqlite_version + " (Python sqlite3), WAL, synchronous=FULL"},
    "py-sqlite-off": {"synchronous": "OFF", "power_safe": False,
                      "about": "SQLite " + sqlite3.sqlite_version + " (Python sqlite3), WAL, synchronous=OFF"},
}


class Store:
    """One open SQLite database: the table kv(k, v)."""

    def __init__(self, name, directory):
        conf = TARGETS.get(name)
        if conf is None:
            raise ValueError("unknown target %r (known: %s)" % (name, ", ".join(TARGETS)))
        os.makedirs(directory, exist_ok=True)
        # isolation_level=None: autocommit; a batch is an explicit transaction.
        self.db = sqlite3.connect(os.path.join(directory, "kv.sqlite"), isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=" + conf["synchronous"])
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")

    def write(self, ops):
        """Applies every (op, key, value) in one transaction."""
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for op, key, value in ops:
                if op == "put":
                    cur.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))
                elif op == "delete":
                    cur.execute("DELETE FROM kv WHERE k = ?", (key,))
                else:
                    raise ValueError("unknown batch op %r" % op)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def get(self, key):
        row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def sync(self):
        self.db.execute("PRAGMA wal_checkpoint(FULL)")

    def close(self):
        self.db.close()


def hello():
    return {"protocol": PROTOCOL, "targets": [
        {"name": name, "about": conf["about"], "power_safe": conf["power_safe"],
         "process_safe": True, "atomic_batch": True, "reopen": True, "creation_safe": False}
        for name, conf in TARGETS.items()]}


def handle(state, req):
    """Answers one request; raises on failure."""
    op = req.get("op")
    if op == "hello":
        return hello()
    if op == "open":
        if state.get("store") is not None:
            raise RuntimeError("open: a store is open already")
        state["store"] = Store(req.get("target", ""), req.get("dir", ""))
        return {}
    store = state.get("store")
    if store is None:
        raise RuntimeError("%s: nothing is open" % op)
    if op == "close":
        state["store"] = None
        store.close()
        return {}
    if op == "get":
        value = store.get(req["key"])
        return {"found": value is not None, "value": (value or b"").hex()}
    if op == "sync":
        store.sync()
        return {}
    if op in ("put", "delete"):
        store.write([(op, req["key"], bytes.fromhex(req.get("value", "")))])
        return {}
    if op == "batch":
        store.write([(b["op"], b["key"], bytes.fromhex(b.get("value", ""))) for b in req.get("ops", [])])
        return {}
    raise ValueError("unknown op %r" % op)


def main():
    state = {}
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        req_id = 0
        try:
            req = json.loads(line)
            req_id = req.get("id", 0)
            reply = handle(state, req)
            reply.update({"id": req_id, "ok": True})
        except Exception as e:  # every failure is a reply, never the end
            reply = {"id": req_id, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        # One write, flushed at once: the reply is the acknowledgement.
        out.write(json.dumps(reply) + "\n")
        out.flush()
    if state.get("store") is not None:
        state["store"].close()


if __name__ == "__main__":
    main()
