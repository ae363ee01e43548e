"""``qa serve``: a real MCP client over stdio and over HTTP, the JSON API, and reloading.

One writable copy of the bundled notes is indexed once for this module (real models); the
servers run as real ``python -m qa serve`` subprocesses that open that index.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED

from qa.settings import Settings

BN_6 = "6. What is Batch Norm? Any difference for Batch Norm in Training and Inference?"
OFF_TOPIC = ["北京到上海的高铁要多久", "how do I bake sourdough bread"]
SECRET = "top secret text outside the notes folder"
TOOLS = {"ask", "read_section", "outline", "unanswered", "status"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, bundled_index: Path) -> tuple[Path, Path]:
    """A writable copy of the bundled notes (plus a symlink that points outside), indexed:
    a copy of the session's bundled index, updated for this folder, so that no section is
    embedded again (the notes are the same)."""
    from qa.store.build import build_index

    root = tmp_path_factory.mktemp("serve")
    notes = root / "notes"
    shutil.copytree(BUNDLED, notes, ignore=shutil.ignore_patterns("*.jsonl"))
    secret = root / "secret.md"
    secret.write_text(f"# Secret\n\n{SECRET}\n", encoding="utf-8")
    (notes / "leak.md").symlink_to(secret)
    index = root / "index"
    shutil.copytree(bundled_index, index)
    report = build_index(notes, index, Settings())
    assert report.embedded == {"minilm": 0, "e5": 0}  # every vector came from the copy
    return notes, index


def _env() -> dict[str, str]:
    """This environment, with the qa under test first on the path of the subprocess."""
    import qa

    env = dict(os.environ)
    here = str(Path(qa.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _serve_args(notes: Path, index: Path, *extra: str) -> list[str]:
    return ["-m", "qa", "serve", "--corpus", str(notes), "--index", str(index), *extra]


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _headings(answer: dict[str, Any]) -> list[str]:
    return [h["heading"] for h in answer["hits"]]


def _error_text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# ---------------------------------------------------------------------------- stdio


def test_a_real_mcp_client_over_stdio(served: tuple[Path, Path]) -> None:
    from mcp import Client, MCPError, StdioServerParameters

    notes, index = served
    params = StdioServerParameters(
        command=sys.executable, args=_serve_args(notes, index, "--no-build"), env=_env()
    )

    async def session() -> None:
        async with Client(params) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            assert tools["ask"].input_schema["required"] == ["question"]
            assert tools["ask"].input_schema["properties"]["top_k"]["maximum"] == 100
            assert tools["ask"].annotations.read_only_hint is True

            english = await client.call_tool("ask", {"question": "what is dropout", "top_k": 3})
            assert not english.is_error
            top = english.structured_content["hits"][0]
            assert top["heading"] == "Dropout"
            assert english.structured_content["declined"] is False

            chinese = await client.call_tool("ask", {"question": "BN在训练和推理时有什么区别"})
            assert chinese.structured_content["hits"][0]["heading"] == BN_6
            assert chinese.structured_content["lang"] == "zh"

            section = await client.call_tool(
                "read_section", {"file": top["file"], "line": top["start_line"]}
            )
            assert not section.is_error
            whole = section.structured_content
            assert whole["heading_path"] == top["heading_path"]
            assert top["text"] in whole["text"]
            assert whole["parent"]["heading_path"] == top["heading_path"][:-1]

            headings = await client.call_tool("outline", {"file": top["file"]})
            assert top["heading_path"] in [
                h["heading_path"] for h in headings.structured_content["headings"]
            ]

            for question in OFF_TOPIC:
                off = await client.call_tool("ask", {"question": question})
                assert off.structured_content["declined"] is True, question

            for bad in ("../secret.md", "/etc/passwd", "leak.md", "notes/../../secret.md"):
                refused = await client.call_tool("read_section", {"file": bad, "line": 1})
                assert refused.is_error, bad
                assert "refused" in _error_text(refused), bad
                assert SECRET not in _error_text(refused)

            missing = await client.call_tool("outline", {"file": "no-such-note.md"})
            assert missing.is_error and "not a note in the index" in _error_text(missing)
            empty = await client.call_tool("ask", {"question": " \t "})
            assert empty.is_error and "the question is empty" in _error_text(empty)
            too_many = await client.call_tool("ask", {"question": "dropout", "top_k": 0})
            assert too_many.is_error and "Traceback" not in _error_text(too_many)

            resources = {str(r.uri) for r in (await client.list_resources()).resources}
            assert "qa://notes/mle-basics.md" in resources

            status = (await client.call_tool("status", {})).structured_content  # still alive
            assert status["fresh"] is True and status["sections"] > 200
            assert status["notes"] == len(resources)

            unanswered = (await client.call_tool("unanswered", {})).structured_content
            assert unanswered["count"] == status["unanswered"] > 0

            note = await client.read_resource("qa://notes/mle-basics.md")
            assert note.contents[0].text == (notes / "mle-basics.md").read_text(encoding="utf-8")
            with pytest.raises(MCPError):
                await client.read_resource("qa://notes/leak.md")
            with pytest.raises(MCPError):
                await client.read_resource("qa://notes/..%2Fsecret.md")

    _run(session())


# ---------------------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 30) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


@pytest.fixture(scope="module")
def http_server(served: tuple[Path, Path]) -> Iterator[str]:
    notes, index = served
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, *_serve_args(notes, index, "--http", "--port", str(port))],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if _get(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ask(base: str, question: str, top: int = 5) -> tuple[int, dict[str, Any], dict[str, str]]:
    return _get(f"{base}/ask?" + urllib.parse.urlencode({"q": question, "top": top}))


def test_the_same_answers_over_mcp_http_and_get_ask(http_server: str) -> None:
    from mcp import Client

    async def over_mcp() -> dict[str, list[str]]:
        async with Client(http_server + "/mcp") as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            out = {}
            for q in ("what is dropout", "BN在训练和推理时有什么区别", *OFF_TOPIC):
                result = await client.call_tool("ask", {"question": q})
                out[q] = result.structured_content
            return out

    mcp_answers = _run(over_mcp())
    for question, answer in mcp_answers.items():
        status, data, _ = _ask(http_server, question)
        assert status == 200
        assert data == answer  # the same JSON as the CLI's --json, both ways
    assert mcp_answers["what is dropout"]["hits"][0]["heading"] == "Dropout"
    assert mcp_answers["BN在训练和推理时有什么区别"]["hits"][0]["heading"] == BN_6
    assert all(mcp_answers[q]["declined"] for q in OFF_TOPIC)


def test_get_section_and_health(http_server: str) -> None:
    _, answer, _ = _ask(http_server, "what is dropout", 1)
    top = answer["hits"][0]
    query = urllib.parse.urlencode({"file": top["file"], "line": top["start_line"]})
    status, section, _ = _get(f"{http_server}/section?{query}")
    assert status == 200
    assert section["heading_path"] == top["heading_path"]
    status, health, _ = _get(http_server + "/health")
    assert status == 200 and health["status"] == "ok" and health["generation"].startswith("gen-")
    status, outline, _ = _get(f"{http_server}/outline?file={urllib.parse.quote(top['file'])}")
    assert status == 200 and top["heading_path"] in [h["heading_path"] for h in outline["headings"]]
    status, state, _ = _get(http_server + "/status")
    assert status == 200 and state["generation"] == health["generation"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ask", 400, "missing parameter: q"),
        ("/ask?q=%20%20", 400, "the question is empty"),
        ("/ask?q=dropout&top=0", 400, "top_k must be a whole number from 1 to 100"),
        ("/ask?q=dropout&top=many", 400, "top must be a whole number"),
        ("/section?file=..%2Fsecret.md&line=1", 400, "refused"),
        ("/section?file=%2Fetc%2Fpasswd&line=1", 400, "refused"),
        ("/section?file=leak.md&line=1", 400, "points outside the notes folder"),
        ("/section?file=mle-basics.md&line=x", 400, "line must be a whole number"),
        ("/section?file=no-such-note.md&line=1", 404, "not a note in the index"),
        ("/section?file=mle-basics.md&line=999999", 404, "is not in any section"),
    ],
)
def test_bad_requests_are_refused_with_4xx(
    http_server: str, path: str, status: int, message: str
) -> None:
    got, data, _ = _get(http_server + path)
    assert got == status
    assert message in data["error"]
    assert SECRET not in json.dumps(data)


QUOKKA = "what is quokka gradient damping"


def test_concurrent_requests_during_a_rebuild_never_mix_generations(
    http_server: str, served: tuple[Path, Path]
) -> None:
    """10 clients ask while `qa build` adds a section; each answer is wholly the old index
    or wholly the new one (told by X-QA-Generation), and the server reloads by itself.
    Each client waits 0.1 s between questions: the server is asked concurrently all along
    without 20 clients asking flat out taking the cores the build needs."""
    notes, index = served
    before = _get(http_server + "/health")[1]["generation"]
    note = notes / "mle-basics.md"
    note.write_text(
        note.read_text(encoding="utf-8")
        + "\n\n## Quokka gradient damping\n\nQuokka damping halves every gradient twice.\n",
        encoding="utf-8",
    )
    build = subprocess.Popen(
        [sys.executable, "-m", "qa", "build", "--corpus", str(notes), "--index", str(index)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def client(n: int) -> list[tuple[str, int, dict[str, Any], dict[str, str]]]:
        question = QUOKKA if n % 2 else "what is dropout"
        replies = []
        while True:  # ask until the build is over, then once more
            done = build.poll() is not None
            replies.append((question, *_ask(http_server, question, 3)))
            if done:
                return replies
            time.sleep(0.1)

    try:
        with ThreadPoolExecutor(10) as pool:
            replies = [r for rs in pool.map(client, range(10)) for r in rs]
    finally:
        assert build.wait(timeout=120) == 0, build.stderr.read().decode() if build.stderr else ""
    deadline = time.monotonic() + 20
    while (after := _get(http_server + "/health")[1]["generation"]) == before:
        assert time.monotonic() < deadline, "the server did not reload the new index"
        time.sleep(0.2)
    with ThreadPoolExecutor(20) as pool:
        replies += pool.map(lambda n: (QUOKKA, *_ask(http_server, QUOKKA, 3)), range(20))

    # Every client was answered while the build ran (however fast the build was), and
    # the new index answered after it.
    old = [r for r in replies if r[3]["x-qa-generation"] == before]
    assert len(old) >= 10 and len(replies) - len(old) >= 20
    assert {headers["x-qa-generation"] for _, _, _, headers in replies} == {before, after}
    assert {status for _, status, _, _ in replies} == {200}
    for question, _, data, headers in replies:
        generation = headers["x-qa-generation"]
        assert generation in (before, after)
        headings = _headings(data)
        if question == QUOKKA:
            assert ("Quokka gradient damping" in headings) == (generation == after)
            if generation == after:
                assert headings[0] == "Quokka gradient damping"
                assert data["hits"][0]["file"] == "mle-basics.md"
        else:
            assert headings[0] == "Dropout"


def test_watch_rebuilds_and_the_stdio_server_answers_from_the_changed_section(
    served: tuple[Path, Path],
) -> None:
    from mcp import Client, StdioServerParameters

    notes, index = served
    params = StdioServerParameters(
        command=sys.executable, args=_serve_args(notes, index, "--watch"), env=_env()
    )
    note = notes / "mle-basics.md"

    async def session() -> None:
        async with Client(params) as client:
            status = (await client.call_tool("status", {})).structured_content
            assert status["watching"] is True
            await asyncio.sleep(1)  # let the watcher start before the edit
            note.write_text(
                note.read_text(encoding="utf-8")
                + "\n\n## Wombat learning rate\n\nThe wombat schedule triples the rate.\n",
                encoding="utf-8",
            )
            deadline = time.monotonic() + 60
            while True:
                result = await client.call_tool("ask", {"question": "wombat learning rate"})
                top = result.structured_content["hits"][0]
                if top["heading"] == "Wombat learning rate":
                    break
                assert time.monotonic() < deadline, "the edit never reached the server"
                await asyncio.sleep(0.3)
            section = await client.call_tool(
                "read_section", {"file": top["file"], "line": top["start_line"]}
            )
            assert "The wombat schedule triples the rate." in section.structured_content["text"]
            status = (await client.call_tool("status", {})).structured_content
            assert status["generation_number"] >= 2 and status["fresh"] is True

    _run(session())


def test_binding_beyond_loopback_warns(served: tuple[Path, Path]) -> None:
    notes, index = served
    port = str(_free_port())
    proc = subprocess.Popen(
        [sys.executable, *_serve_args(notes, index, "--http", "--host", "0.0.0.0", "--port", port)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert first.startswith("qa: warning: binding 0.0.0.0: anyone who can reach this address")
