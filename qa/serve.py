"""``qa serve``: the notes as an MCP server (stdio or streamable HTTP) and a small JSON API.

``NotesService`` owns the open index: it answers questions, returns sections and outlines,
and swaps in a new index generation when one is built (by ``qa build``, ``qa watch`` or
its own ``--watch``). Every request takes the generation current when it starts and uses
only that one, so a rebuild in the middle of a request never mixes two generations.

The server is read-only: nothing here writes a note, and the index is only written by a
rebuild. A ``file`` argument must resolve inside the notes folder and name an indexed
note; anything else is a ``ServeError``, which the front ends turn into a structured
tool error or a 4xx response, never a traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from qa.library import Library, Policy
from qa.retrieve.navigate import Outline, OutlineSection
from qa.retrieve.search import QuestionError, Searcher, clean_question
from qa.settings import LEXICAL
from qa.store.index import IndexError_

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8765
MAX_TOP_K = 100
MAX_FILE_CHARS = 1000
RELOAD_POLL_SECONDS = 0.5
NOTE_URI = "qa://notes/"

log = logging.getLogger("qa.serve")


class ServeError(ValueError):
    """A request the server refuses: a bad argument, a path outside the notes, no such note."""

    status = 400


class NotFound(ServeError):
    """The note or section asked for is not in the index."""

    status = 404


@dataclass(frozen=True)
class Generation:
    """One loaded index generation: what a request reads from, start to end."""

    searcher: Searcher
    outline: Outline
    number: int  # 1 for the index opened at start, +1 per reload
    loaded_at: str

    @property
    def name(self) -> str:
        return self.searcher.index.folder.name


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class NotesService:
    """The open notes index behind every front end of ``qa serve``."""

    def __init__(self, lib: Library, searcher: Searcher):
        self.lib = lib
        self.corpus = lib.corpus
        self.index_dir = lib.index_dir
        self.settings = lib.settings
        self._root = self.corpus.resolve()
        self._generation = Generation(searcher, Outline.of(searcher.index), 1, _now())
        self._swap = threading.Lock()  # one reload at a time
        # Encoders are shared across generations and not known to be thread-safe, and the
        # search itself already spreads over the cores: questions are answered one at a time.
        self._search = threading.Lock()
        self.watching = False

    @classmethod
    def open(cls, lib: Library, auto_build: bool = True) -> NotesService:
        """Open (building or updating first, like ``qa ask``) and load the models."""
        searcher = lib.open(Policy.FRESH if auto_build else Policy.EXISTING)
        searcher.warm_up()
        service = cls(lib, searcher)
        threading.Thread(target=service._warm_up, name="qa-warm-up", daemon=True).start()
        return service

    def _warm_up(self) -> None:
        """Load the Chinese segmenter now (it takes ~0.5 s), not on the first Chinese question.

        Outside the search lock: English questions are answered meanwhile, and jieba's own
        lock makes a Chinese question wait for its dictionary."""
        try:
            self.current.searcher.tokenizer.warm_up()
        except Exception as err:  # warming up is only an optimisation
            log.warning("qa serve: warm-up failed: %s", err)

    @property
    def current(self) -> Generation:
        return self._generation

    # ------------------------------------------------------------------ reloading

    def reload_if_newer(self) -> bool:
        """Load the index generation on disk if it is not the one in use; True if swapped."""
        with self._swap:
            old = self._generation
            try:
                searcher = self.lib.reopen(old.searcher)
            except (IndexError_, OSError, ValueError) as err:
                log.warning("qa serve: could not load the new index (%s); keeping the old one", err)
                return False
            if searcher is None:
                return False
            index = searcher.index
            outline = Outline.of(index)
            self._generation = Generation(searcher, outline, old.number + 1, _now())
        print(f"qa serve: reloaded the index ({index.folder.name})", file=sys.stderr, flush=True)
        return True

    def start_reloader(self, stop: threading.Event, every: float = RELOAD_POLL_SECONDS) -> None:
        """Pick up generations built by other processes, in a daemon thread."""

        def poll() -> None:
            while not stop.wait(every):
                try:
                    self.reload_if_newer()
                except Exception as err:  # never let the poller die
                    log.warning("qa serve: reload failed: %s", err)

        threading.Thread(target=poll, name="qa-reload", daemon=True).start()

    def start_watcher(self, stop: threading.Event) -> None:
        """Rebuild the index when a note changes (``--watch``), in a daemon thread."""
        from watchfiles import watch as watch_files

        from qa.store.notes import NOTE_SUFFIXES

        def is_note(change: Any, path: str) -> bool:
            name = Path(path).name
            return name.lower().endswith(NOTE_SUFFIXES) and not name.startswith(".")

        def run() -> None:
            for _ in watch_files(self.corpus, watch_filter=is_note, debounce=400, stop_event=stop):
                try:
                    self.lib.build()
                    self.reload_if_newer()
                except Exception as err:  # a bad state of the notes: report, keep watching
                    print(f"qa serve: rebuild failed: {err}", file=sys.stderr, flush=True)

        self.watching = True
        threading.Thread(target=run, name="qa-watch", daemon=True).start()

    # ------------------------------------------------------------------ requests

    def ask(self, question: str, top_k: int = 5, gen: Generation | None = None) -> dict[str, Any]:
        """The CLI's ``qa ask --json`` record for ``question``."""
        gen = gen or self.current
        if not isinstance(question, str):
            raise ServeError("question must be a string")
        top_k = _top_k(top_k)
        try:
            text = clean_question(question)
        except QuestionError as err:
            raise ServeError(str(err)) from None
        with self._search:
            return gen.searcher.search(text, top_k).to_json()

    def read_section(self, file: str, line: int, gen: Generation | None = None) -> dict[str, Any]:
        """The whole section at (or containing) ``line`` of ``file``, its parent and children."""
        gen = gen or self.current
        name = self.note_name(file, gen)
        if isinstance(line, bool) or not isinstance(line, int) or line < 1:
            raise ServeError("line must be a whole number from 1")
        section = gen.outline.find(name, line) or _containing(gen.outline.root(name), line)
        if section is None or section.is_root:
            raise NotFound(f"line {line} of {name} is not in any section")
        parent = section.parent
        return {
            "file": name,
            "line": section.line,
            "end_line": section.end_line,
            "heading": section.title,
            "heading_path": list(section.heading_path),
            "text": section.text,
            "answered": section.answered,
            "parent": None
            if parent is None or parent.is_root
            else {"heading_path": list(parent.heading_path), "line": parent.line},
            "children": [_heading(child) for child in section.children],
            "also_in": [{"file": p.file, "start_line": p.start_line} for p in section.places],
            "generation": gen.name,
        }

    def outline(self, file: str, gen: Generation | None = None) -> dict[str, Any]:
        """A note's headings in order, with their lines and depth."""
        gen = gen or self.current
        name = self.note_name(file, gen)
        root = gen.outline.root(name)
        assert root is not None  # note_name checked it
        return {"file": name, "headings": [_heading(s) for s in _walk(root)]}

    def unanswered(self, query: str | None = None, gen: Generation | None = None) -> dict[str, Any]:
        """Headings the notes ask without answering; ``query`` keeps those sharing a word."""
        gen = gen or self.current
        tokenize = gen.searcher.tokenizer.tokenize
        words: set[str] = set()
        if query is not None:
            try:
                words = set(tokenize(clean_question(query)))
            except QuestionError as err:
                raise ServeError(str(err)) from None
        items = []
        for chunk in gen.searcher.index.chunks:
            if not chunk.asks:  # answered, or a list of links that asks nothing
                continue
            if words and not words & set(tokenize(" ".join(chunk.heading_path))):
                continue
            loc = chunk.location
            items.append(
                {
                    "file": loc.file,
                    "line": loc.start_line,
                    "heading": chunk.heading,
                    "heading_path": list(loc.heading_path),
                }
            )
        return {"query": query, "count": len(items), "unanswered": items}

    def status(self, gen: Generation | None = None) -> dict[str, Any]:
        """Index freshness, counts, models and which generation is in use."""
        gen = gen or self.current
        index = gen.searcher.index
        try:
            fresh = self.lib.freshness()
            freshness = {"fresh": fresh.fresh, "reason": fresh.reason}
        except Exception as err:  # an unreadable notes folder, say
            freshness = {"fresh": False, "reason": str(err)}
        return {
            "corpus": str(self.corpus),
            "index": str(self.index_dir),
            "generation": gen.name,
            "generation_number": gen.number,
            "loaded_at": gen.loaded_at,
            **freshness,
            "notes": len(gen.outline.files),
            "sections": len(index.chunks),
            "unanswered": sum(c.asks for c in index.chunks),
            "channels": list(index.channels),
            "models": {c: index.model_id(c) or c for c in index.channels if c != LEXICAL},
            "watching": self.watching,
        }

    def note_name(self, file: Any, gen: Generation | None = None) -> str:
        """``file`` as the index names it, if it is an indexed note inside the notes folder."""
        gen = gen or self.current
        if not isinstance(file, str) or not file.strip():
            raise ServeError("file must be a note's path relative to the notes folder")
        if len(file) > MAX_FILE_CHARS or "\x00" in file:
            raise ServeError("file is not a valid path")
        path = PurePosixPath(file.replace("\\", "/"))
        if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
            raise ServeError(f"absolute paths are refused: {file!r}")
        if ".." in path.parts:
            raise ServeError(f"paths outside the notes folder are refused: {file!r}")
        if not (self._root / path).resolve().is_relative_to(self._root):
            raise ServeError(f"{file!r} points outside the notes folder; refused")
        name = path.as_posix()
        if gen.outline.root(name) is None:
            raise NotFound(f"{name!r} is not a note in the index")
        return name

    def note_text(self, file: str) -> str:
        """A note's Markdown as it is on disk now (for the ``qa://notes/…`` resources)."""
        from qa.store.notes import MAX_NOTE_BYTES

        name = self.note_name(file)
        path = (self._root / name).resolve()
        try:
            if path.stat().st_size > MAX_NOTE_BYTES:
                raise ServeError(f"{name} is larger than {MAX_NOTE_BYTES} bytes")
            return path.read_bytes().decode("utf-8", errors="replace")
        except OSError as err:
            raise NotFound(f"{name} cannot be read ({err.strerror})") from None


def _top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise ServeError(f"top_k must be a whole number from 1 to {MAX_TOP_K}")
    return value


def _heading(section: OutlineSection) -> dict[str, Any]:
    return {
        "heading": section.title,
        "heading_path": list(section.heading_path),
        "line": section.line,
        "depth": section.depth,
        "answered": section.answered,
        "has_text": section.has_text,
    }


def _walk(section: OutlineSection) -> Iterator[OutlineSection]:
    for child in section.children:
        yield child
        yield from _walk(child)


def _containing(root: OutlineSection | None, line: int) -> OutlineSection | None:
    """The deepest section whose lines include ``line``."""
    node = root
    while node is not None:
        inside = [c for c in node.children if c.line <= line <= max(c.end_line, c.line)]
        if not inside:
            return node
        node = inside[-1]
    return None


# ---------------------------------------------------------------------------- MCP


def _guarded(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a tool body: refusals become tool errors; a bug is one line, never a traceback."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return call()
    except ServeError as err:
        raise ToolError(str(err)) from None
    except Exception as err:
        print(f"qa serve: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        raise ToolError(f"internal error: {type(err).__name__}: {err}") from None


def make_mcp(service: NotesService) -> Any:
    """The MCP server: five tools and one resource per note."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
    from mcp.types import Resource as MCPResource
    from mcp.types import ToolAnnotations

    class NotesServer(MCPServer):
        async def list_resources(self) -> list[MCPResource]:
            return [
                MCPResource(
                    uri=NOTE_URI + quote(name, safe="/"),
                    name=name,
                    description=f"The Markdown note {name}",
                    mime_type="text/markdown",
                )
                for name in service.current.outline.files
            ]

    server = NotesServer(
        "qa",
        instructions=(
            "Answers questions from the user's Markdown study notes (English and Chinese). "
            "Call ask first; when the answer says declined=true the notes do not answer the "
            "question, so say so rather than using the passages as an answer. Use "
            "read_section with a hit's file and start_line to read the whole section."
        ),
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)

    @server.tool(annotations=read_only)
    def ask(
        question: Annotated[
            str, Field(description="The question, in English or Chinese (up to 2000 characters).")
        ],
        top_k: Annotated[
            int, Field(ge=1, le=MAX_TOP_K, description="How many passages to return.")
        ] = 5,
    ) -> dict[str, Any]:
        """Answer a question from the notes: the best passages (file, lines, heading path,
        text, score), a confidence, and declined=true when the notes do not seem to answer
        it (the passages are then only the nearest sections). Hits with answered=false are
        headings the notes ask but have not answered yet."""
        return _guarded(lambda: service.ask(question, top_k))

    @server.tool(annotations=read_only)
    def read_section(
        file: Annotated[str, Field(description="A note's path relative to the notes folder.")],
        line: Annotated[
            int, Field(ge=1, description="A line in the section, e.g. a hit's start_line.")
        ],
    ) -> dict[str, Any]:
        """Read a whole section of a note: its text, its parent heading and the headings of
        its sub-sections (read those with read_section too)."""
        return _guarded(lambda: service.read_section(file, line))

    @server.tool(annotations=read_only)
    def outline(
        file: Annotated[str, Field(description="A note's path relative to the notes folder.")],
    ) -> dict[str, Any]:
        """List a note's headings in order, with their lines and depth."""
        return _guarded(lambda: service.outline(file))

    @server.tool(annotations=read_only)
    def unanswered(
        query: Annotated[
            str | None,
            Field(description="Keep only headings that share a word with this text."),
        ] = None,
    ) -> dict[str, Any]:
        """List the questions the notes ask (headings) without answering them yet."""
        return _guarded(lambda: service.unanswered(query))

    @server.tool(annotations=read_only)
    def status() -> dict[str, Any]:
        """Index freshness (does it match the notes on disk), counts and models."""
        return _guarded(service.status)

    @server.resource(NOTE_URI + "{+path}", mime_type="text/markdown", name="note")
    def note(path: str) -> str:
        """A note's Markdown text."""
        try:
            return service.note_text(path)
        except NotFound as err:
            raise ResourceNotFoundError(str(err)) from None
        except ServeError as err:
            raise ResourceError(str(err)) from None

    return server


# ---------------------------------------------------------------------------- HTTP


def http_app(service: NotesService, host: str = "127.0.0.1") -> Any:
    """Streamable-HTTP MCP at ``/mcp`` plus ``GET /ask``, ``/section``, ``/health``."""
    import anyio.to_thread
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from qa.display import json_text

    class SafeJSON(JSONResponse):
        """JSON with no raw control character, C1 included (qa.display.json_text)."""

        def render(self, content: Any) -> bytes:
            return json_text(content).encode("utf-8")

    server = make_mcp(service)

    def error(status: int, message: str) -> SafeJSON:
        return SafeJSON({"error": message}, status_code=status)

    async def answer(request: Request, call: Callable[[Generation], dict[str, Any]]) -> Any:
        gen = service.current  # one generation for the whole request
        try:
            data = await anyio.to_thread.run_sync(call, gen)
        except ServeError as err:
            return error(err.status, str(err))
        except Exception as err:
            print(f"qa serve: internal error: {type(err).__name__}: {err}", file=sys.stderr)
            return error(500, f"internal error: {type(err).__name__}")
        return SafeJSON(data, headers={"X-QA-Generation": gen.name})

    def whole(value: str | None, name: str, default: int | None = None) -> int:
        if value is None:
            if default is None:
                raise ServeError(f"missing parameter: {name}")
            return default
        try:
            return int(value)
        except ValueError:
            raise ServeError(f"{name} must be a whole number") from None

    @server.custom_route("/ask", methods=["GET"])
    async def ask(request: Request) -> Any:
        params = request.query_params
        try:
            if "q" not in params:
                raise ServeError("missing parameter: q (the question)")
            top = whole(params.get("top"), "top", 5)
        except ServeError as err:
            return error(err.status, str(err))
        return await answer(request, lambda gen: service.ask(params["q"], top, gen))

    @server.custom_route("/section", methods=["GET"])
    async def section(request: Request) -> Any:
        params = request.query_params
        try:
            line = whole(params.get("line"), "line")
        except ServeError as err:
            return error(err.status, str(err))
        return await answer(
            request, lambda gen: service.read_section(params.get("file", ""), line, gen)
        )

    @server.custom_route("/outline", methods=["GET"])
    async def outline(request: Request) -> Any:
        return await answer(
            request, lambda gen: service.outline(request.query_params.get("file", ""), gen)
        )

    @server.custom_route("/status", methods=["GET"])
    async def status(request: Request) -> Any:
        return await answer(request, lambda gen: service.status(gen))

    @server.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> Any:
        gen = service.current
        return SafeJSON(
            {"status": "ok", "generation": gen.name, "sections": len(gen.searcher.index.chunks)}
        )

    return server.streamable_http_app(host=host)


# ---------------------------------------------------------------------------- running


def serve_stdio(service: NotesService) -> None:
    """Speak MCP on stdin/stdout until the client closes them."""
    import anyio

    anyio.run(make_mcp(service).run_stdio_async)


def serve_http(service: NotesService, host: str, port: int) -> None:
    """Serve MCP-over-HTTP and the JSON API until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        http_app(service, host), host=host, port=port, log_level="warning", access_log=False
    )
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"qa serve: listening on {where} (MCP at {where}/mcp)", file=sys.stderr, flush=True)
    uvicorn.Server(config).run()


def run(
    lib: Library,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    watch: bool = False,
    auto_build: bool = True,
) -> None:
    """Open the notes, then serve them over stdio or HTTP; reload when the index changes."""
    started = time.perf_counter()
    service = NotesService.open(lib, auto_build=auto_build)
    gen = service.current
    print(
        f"qa serve: {len(gen.outline.files)} notes, {len(gen.searcher.index.chunks)} sections "
        f"({gen.name}) ready in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    service.start_reloader(stop)
    if watch:
        service.start_watcher(stop)
    try:
        if http:
            serve_http(service, host, port)
        else:
            serve_stdio(service)
    finally:
        stop.set()
