"""A load generator whose clients cannot slow each other down in Python: one OS process per client.

    latencies, cpu = run_clients("127.0.0.1", port, "/predict", bodies_per_client)

Each client is a forked process with one keep-alive `http.client` connection (reopened when the server
closes it, as gunicorn's sync workers do after every answer; the reconnect is part of that request's
time). All clients start together behind a barrier and send their bodies back to back, each timing a
request from sending it to having read the whole answer. Threads in one process (the earlier
generator) share one GIL: a client waiting for the GIL to parse its answer counted as server latency.
The clients still share the machine's cores with the server, so their CPU seconds are returned too.
"""

from __future__ import annotations

import http.client
import multiprocessing
import time

HEADERS = {"Content-Type": "application/json"}


def _client(host: str, port: int, path: str, bodies: list[bytes], start, results) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=120)
    connection.connect()
    start.wait()
    latencies, cpu_started = [], time.process_time()
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", path, body, HEADERS)
        answer = connection.getresponse()
        data = answer.read()
        latencies.append(time.perf_counter() - started)
        if answer.status != 200 or not data:
            results.put(RuntimeError(f"{path} answered {answer.status}: {data[:200]!r}"))
            return
    connection.close()
    results.put((latencies, time.process_time() - cpu_started))


def run_clients(host: str, port: int, path: str, bodies_per_client: list[list[bytes]]) -> tuple[list[float], float]:
    """POST each client's bodies from its own process, all clients at once. Returns every request's
    seconds (all clients) and the CPU seconds the clients spent, summed."""
    context = multiprocessing.get_context("fork")  # the bodies are inherited, not pickled
    start, results = context.Barrier(len(bodies_per_client)), context.Queue()
    clients = [context.Process(target=_client, args=(host, port, path, bodies, start, results), daemon=True)
               for bodies in bodies_per_client]
    for client in clients:
        client.start()
    latencies, cpu = [], 0.0
    try:
        for _ in clients:
            found = results.get(timeout=600)
            if isinstance(found, Exception):
                raise found
            latencies += found[0]
            cpu += found[1]
    finally:
        for client in clients:
            client.join(timeout=10)
            if client.is_alive():
                client.kill()
    return latencies, cpu
