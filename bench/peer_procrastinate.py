"""The procrastinate peer of bench/peers.py: an App on PostgreSQL (a procrastinate_jobs row per job) and its task.

The task is async, procrastinate's native kind, and writes its row through the worker's own connection
pool. Configured from PEER_DATABASE_URL. Run a worker with
`python -m procrastinate --app peer_procrastinate.app worker`.
"""

from __future__ import annotations

import os
import time

from procrastinate import App, PsycopgConnector

app = App(connector=PsycopgConnector(conninfo=os.environ.get("PEER_DATABASE_URL", "")))


@app.task(name="peer.write_row")
async def write_row(n: int, sent: float) -> int:
    started = time.time()
    await app.connector.execute_query_async(
        "INSERT INTO bench_peer (n, sent, started, done) VALUES (%(n)s, %(sent)s, %(started)s, %(done)s)",
        n=n,
        sent=sent,
        started=started,
        done=time.time(),
    )
    return n
