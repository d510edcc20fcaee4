#!/usr/bin/env python3
"""The cost of SQLite `secure_delete = ON` on the outbox's write pattern.

Appends batches of ~1 KB payloads in WAL mode and deletes each batch once the next one is
appended (as delivery acknowledgements do), with `secure_delete` OFF and ON alternately.
Uses the system's SQLite through Python's sqlite3 module, not the gateway.

usage: SYNC=FULL|OFF python3 bench/secure_delete.py OFF ON OFF ON ...
  SYNC  the `synchronous` setting (FULL, the store's, by default; OFF shows the CPU and
        page-write cost without fsync)
"""

import os
import shutil
import sqlite3
import sys
import tempfile
import time


def run(mode, rows=60000, batch=500):
    d = tempfile.mkdtemp(prefix=f"vw-secure-delete-{mode}-")
    try:
        c = sqlite3.connect(os.path.join(d, "db"), isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute(f"PRAGMA synchronous={os.environ.get('SYNC', 'FULL')}")
        c.execute(f"PRAGMA secure_delete={mode}")
        c.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, dest INTEGER, payload BLOB)")
        payload = os.urandom(1000)
        t = time.perf_counter()
        for start in range(0, rows, batch):
            c.execute("BEGIN")
            c.executemany("INSERT INTO outbox (dest, payload) VALUES (1, ?)", [(payload,)] * batch)
            c.execute("COMMIT")
            if start:
                c.execute("BEGIN")
                c.execute("DELETE FROM outbox WHERE id <= ?", (start,))
                c.execute("COMMIT")
        elapsed = time.perf_counter() - t
        print(f"secure_delete={mode}: {rows} rows appended and deleted in {elapsed:.2f}s = {rows / elapsed:,.0f} rows/s", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


print("sqlite", sqlite3.sqlite_version)
for m in sys.argv[1:] or ["OFF", "ON"]:
    run(m)
