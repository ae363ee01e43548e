"""`qa serve`: warm ask round trips over stdio and HTTP, start to first answer, RSS over time.

    python bench/serve.py [--rounds 300] [--requests 10000]

Each server is a real `python -m qa serve` subprocess on the bundled notes. Round trips
are timed in this process from sending a request to having its parsed result:
- stdio: MCP `ask` through the SDK's client session;
- HTTP: MCP `ask` over streamable HTTP (SDK client) and plain `GET /ask` (keep-alive).
Start to first answer: from starting the subprocess to the first answer received.
RSS: the HTTP server's resident memory, sampled every 1,000 of `--requests` GET /ask.
Questions are the labelled set's, cycled with small variations. Results go to
bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Any

from common import QA, ROOT, percentiles, save

from qa.eval.evaluate import load_labelled
from qa.library import Library
from qa.settings import Settings

CORPUS = ROOT / "corpus"
INDEX = ROOT / "index" / "bench" / "corpus"
SUFFIXES = ["", "?", " please", " 吗", " in detail", " 详细说说", " (interview)"]


def questions(n: int, seed: int) -> list[str]:
    base = [i.question for i in load_labelled(CORPUS / "questions.jsonl")]
    rng = random.Random(seed)
    return [rng.choice(base) + rng.choice(SUFFIXES) for _ in range(n)]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def serve_args(*extra: str) -> list[str]:
    return [*QA[1:], "serve", "--corpus", str(CORPUS), "--index", str(INDEX), "--no-build", *extra]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [out.get("PYTHONPATH")])])
    return out


def ms(seconds: list[float]) -> dict[str, float]:
    return {k: round(v * 1000, 2) if k != "n" else v for k, v in percentiles(seconds).items()}


async def bench_stdio(rounds: int) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=serve_args(), env=env())
    start = time.perf_counter()
    async with Client(params) as client:
        first = await client.call_tool("ask", {"question": "what is dropout"})
        first_answer = time.perf_counter() - start
        assert not first.is_error
        times = await timed_asks(client, questions(rounds, 1))
    return {"start_to_first_answer_s": round(first_answer, 3), "ask_round_trip_ms": ms(times)}


async def bench_mcp_http(base: str, rounds: int) -> dict[str, float]:
    from mcp import Client

    async with Client(base + "/mcp") as client:
        await client.call_tool("ask", {"question": "what is dropout"})
        times = await timed_asks(client, questions(rounds, 2))
    return ms(times)


async def timed_asks(client: Any, asked: list[str]) -> list[float]:
    """Seconds each `ask` round trip took, one question at a time."""
    times = []
    for q in asked:
        t = time.perf_counter()
        result = await client.call_tool("ask", {"question": q})
        times.append(time.perf_counter() - t)
        assert not result.is_error, result.content
    return times


def get_ask(conn: http.client.HTTPConnection, question: str) -> dict[str, Any]:
    conn.request("GET", "/ask?" + urllib.parse.urlencode({"q": question}))
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body
    return json.loads(body)


def bench_http(rounds: int, requests: int) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *serve_args("--http", "--port", str(port))],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:  # start to first answer: retry until the port answers
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                get_ask(conn, "what is dropout")
                break
            except OSError:
                assert proc.poll() is None, "the server exited"
                time.sleep(0.02)
        first_answer = time.perf_counter() - start
        times = []
        for q in questions(rounds, 3):
            t = time.perf_counter()
            get_ask(conn, q)
            times.append(time.perf_counter() - t)
        mcp_http = asyncio.run(bench_mcp_http(f"http://127.0.0.1:{port}", rounds))
        conn.close()  # idle longer than uvicorn's keep-alive while MCP ran: a new one
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        samples = [(0, round(rss_mb(proc.pid), 1))]
        t = time.perf_counter()
        for n, q in enumerate(questions(requests, 4), start=1):
            get_ask(conn, q + " " * (n % 3))
            if n % 1000 == 0:
                samples.append((n, round(rss_mb(proc.pid), 1)))
                print(f"{n:6} requests  server RSS {samples[-1][1]:.0f} MB", flush=True)
        soak_seconds = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "start_to_first_answer_s": round(first_answer, 3),
        "get_ask_round_trip_ms": ms(times),
        "mcp_ask_round_trip_ms": mcp_http,
        "soak": {"requests": requests, "seconds": round(soak_seconds, 1), "rss_mb": samples},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="Timed asks per transport.")
    parser.add_argument("--requests", type=int, default=10_000, help="GET /ask for the soak.")
    args = parser.parse_args()
    Library(CORPUS, INDEX, Settings()).open()  # builds the bench index if needed, untimed
    stdio = asyncio.run(bench_stdio(args.rounds))
    print(f"stdio: {json.dumps(stdio)}", flush=True)
    http_results = bench_http(args.rounds, args.requests)
    print(f"http: {json.dumps({k: v for k, v in http_results.items() if k != 'soak'})}")
    rss = http_results["soak"]["rss_mb"]
    print(f"server RSS {rss[0][1]:.0f} MB -> {rss[-1][1]:.0f} MB over {args.requests} requests")
    path = save(
        "serve",
        {
            "command": "python bench/serve.py " + " ".join(sys.argv[1:]),
            "rounds": args.rounds,
            "stdio": stdio,
            "http": http_results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
