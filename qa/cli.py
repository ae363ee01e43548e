"""The ``qa`` command: build the index, ask questions, evaluate retrieval."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from qa.threads import limit_native_threads

limit_native_threads()

import click  # noqa: E402

from qa.display import json_text, safe_text  # noqa: E402
from qa.settings import default_corpus, default_index  # noqa: E402

if TYPE_CHECKING:
    from qa.library import Library

# A passage printed by `qa ask` is cut here (--json gives it whole): windows are far
# shorter, this bounds an index built with a huge window.
MAX_PRINTED_CHARS = 2000


def say(text: str = "", err: bool = False) -> None:
    """Print a line that may hold text from notes, file names or question files: its
    control characters are made visible and inert (qa.display)."""
    click.echo(safe_text(text), err=err)


class Fail(click.ClickException):
    """A one-line error for the user; exit code 1 (2 is left for usage errors)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"qa: error: {safe_text(self.message, one_line=True)}", err=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    from qa.eval.evaluate import LabelError
    from qa.eval.workbench import BaselineError
    from qa.lang.glossary import GlossaryFileError
    from qa.models.encoders import UnknownNameError
    from qa.presets import PresetError
    from qa.retrieve.search import QuestionError
    from qa.store.index import IndexError_
    from qa.store.notes import CorpusError
    from qa.study.quiz_store import QuizStoreError

    return (
        CorpusError,
        GlossaryFileError,
        IndexError_,
        QuestionError,
        UnknownNameError,
        LabelError,
        PresetError,
        BaselineError,
        QuizStoreError,
    )


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear line, never a traceback."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader went away (`qa ask … | head`): run() ends quietly
    except OSError as err:
        if err.filename is None or not err.strerror:
            raise Fail(str(err)) from None
        raise Fail(f"{err.strerror.lower()}: {err.filename}") from None
    except _user_errors() as err:
        raise Fail(str(err)) from None
    except RuntimeError as err:  # a model that cannot load, say
        raise Fail(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


SELECT = "qa.select"  # where --include/--exclude wait for library(), in click's context


def corpus_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--corpus, --index, --model, and --include/--exclude (which library() reads, so that
    every command takes them without naming them)."""

    inner = func

    @functools.wraps(inner)
    def command(*args: Any, **kwargs: Any) -> Any:
        include, exclude = kwargs.pop("include", ()), kwargs.pop("exclude", ())
        if include or exclude:
            click.get_current_context().meta[SELECT] = (tuple(include), tuple(exclude))
        return inner(*args, **kwargs)

    func = command
    func = click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave out notes matching GLOB (gitignore syntax; repeatable).",
    )(func)
    func = click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Index only notes matching GLOB (gitignore syntax; repeatable).",
    )(func)
    func = click.option(
        "--index",
        "index_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Index folder (default: index/ for the bundled notes).",
    )(func)
    func = click.option(
        "--corpus",
        type=click.Path(path_type=Path),
        help="Folder of Markdown notes (default: the bundled notes).",
    )(func)
    func = click.option(
        "--model",
        help="Dense model: a registered name (minilm, e5) or a "
        "sentence-transformers model path or name.",
    )(func)
    return func


def library(corpus: Path | None, index_dir: Path | None, model: str | None) -> Library:
    """The notes folder, index and settings a command's options name (see Library.configure),
    with the --include/--exclude globs that corpus_options kept in click's context."""
    from dataclasses import replace

    from qa.library import Library

    with user_errors():
        lib = Library.configure(corpus, index_dir, model)
    context = click.get_current_context(silent=True)
    include, exclude = context.meta.get(SELECT, ((), ())) if context else ((), ())
    if include or exclude:
        settings = lib.settings
        lib = lib.with_settings(
            replace(
                settings, include=settings.include + include, exclude=settings.exclude + exclude
            )
        )
    return lib


def end_on_closed_pipe() -> NoReturn:
    """`qa ask … | head`: the reader has what it wanted. Point stdout at /dev/null so the
    interpreter's own flush at exit does not fail again, and end quietly with status 0."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


class QAGroup(click.Group):
    """The command group; a closed pipe ends any command quietly (click would exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            end_on_closed_pipe()


@click.group(
    cls=QAGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@corpus_options
@click.pass_context
def main(
    ctx: click.Context, corpus: Path | None, index_dir: Path | None, model: str | None
) -> None:
    """Ask your Markdown notes questions, in English or Chinese.

    Run `qa` alone to open the chat screen on the bundled notes; `qa --corpus DIR` opens
    it on your own (the options are those of `qa chat`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(chat, corpus=corpus, index_dir=index_dir, model=model)
    elif corpus or index_dir or model or ctx.meta.get(SELECT):
        raise click.UsageError(
            "put --corpus, --index, --model, --include and --exclude after the command: "
            f"qa {ctx.invoked_subcommand} --corpus DIR …"
        )


@main.command()
@corpus_options
def chat(corpus: Path | None, index_dir: Path | None, model: str | None) -> None:
    """Open the interactive chat screen (the default command)."""
    lib = library(corpus, index_dir, model)
    if not lib.corpus.is_dir():  # say so here, in one line, rather than in an empty screen
        raise Fail(f"notes folder not found: {lib.corpus}")
    from qa.tui.app import run_app

    run_app(lib)


@main.command()
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    help="Folder of Markdown notes (default: the bundled notes).",
)
def init(corpus: Path | None) -> None:
    """Keep this notes folder's index inside it, in .qa/ (instead of the user cache)."""
    from qa.where import init_folder

    corpus = corpus or default_corpus()
    with user_errors():
        local, made = init_folder(corpus)
    index = default_index(corpus)
    if made:
        say(f"Made {local}; the index of {corpus} now lives in {index}.")
    else:
        say(f"{local} is there already; the index of {corpus} lives in {index}.")
    if os.environ.get("QA_INDEX"):
        say(f"qa: warning: QA_INDEX is set, so qa uses {index} instead", err=True)


@main.command(short_help="Print where the index, cache, history and config are.")
@corpus_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def where(corpus: Path | None, index_dir: Path | None, model: str | None, as_json: bool) -> None:
    """Print the paths qa uses for the notes folder: index, cache, history, quiz state and
    config (qa.toml)."""
    from qa.where import places_in_use

    lib = library(corpus, index_dir, model)
    places = places_in_use(lib.corpus, lib.index_dir)
    if as_json:
        click.echo(json_text(places.to_json(), indent=1))
        return
    for name, path in places.rows():
        note = ""
        if name == "config" and not path.is_file():
            note = "  (none yet)"
        elif name == "index" and not (path / "CURRENT").is_file():
            note = "  (not built yet)"
        say(f"{name + ':':9}{path}{note}")


@main.command()
@corpus_options
@click.option("--full", is_flag=True, help="Re-embed everything instead of only what changed.")
def build(corpus: Path | None, index_dir: Path | None, model: str | None, full: bool) -> None:
    """Index the notes (only changed sections are re-embedded)."""
    lib = library(corpus, index_dir, model)
    report = run_build(lib, full)
    say(summary(report) + f"\nIndex: {lib.index_dir}")


def run_build(lib: Library, full: bool = False) -> Any:
    """Build with a progress bar; wait (saying so) if another build holds the index."""
    from qa.store.index import IndexBusy

    with user_errors(), progress_bar() as progress:
        try:
            report = lib.build(full=full, progress=progress, wait=False)
        except IndexBusy:
            say(f"qa: another build is running on {lib.index_dir}; waiting for it…", err=True)
            report = lib.build(full=full, progress=progress)
    for problem in report.problems:
        say(f"qa: warning: {safe_text(str(problem), one_line=True)}", err=True)
    return report


def summary(report: Any) -> str:
    """What a build did, in counts that agree: sections are indexed once however often
    they appear; changes are counted by place; embedding by text new to each channel."""
    embedded = ", ".join(f"{name} {n}" for name, n in report.embedded.items()) or "nothing"
    repeated = report.places - report.chunks
    places = (
        f"; {plural(repeated, 'appearance')} more, of sections found in several places"
        if repeated
        else ""
    )
    skipped = (
        f" {plural(len(report.problems), 'note')} skipped or read with a warning."
        if (report.problems)
        else ""
    )
    if getattr(report, "ignored", 0):
        skipped += (
            f" {plural(report.ignored, 'note')} left out by ignore rules "
            "(.qaignore, .gitignore, --include/--exclude)."
        )
    return (
        f"Indexed {plural(report.notes, 'note')} into {plural(report.chunks, 'section')} "
        f"({plural(report.unanswered, 'unanswered heading')}{places}) in "
        f"{report.seconds:.1f} s.{skipped}\n"
        f"Since the last build, by place: {report.added} added, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged. "
        f"Texts embedded (new to each model): {embedded}."
    )


@main.command(short_help="Re-index the notes whenever they change.")
@corpus_options
def watch(corpus: Path | None, index_dir: Path | None, model: str | None) -> None:
    """Keep the index up to date: re-index the notes whenever they change."""
    lib = library(corpus, index_dir, model)
    corpus = lib.corpus
    from watchfiles import watch as watch_files

    from qa.store.notes import NOTE_SUFFIXES

    with user_errors():
        if not corpus.is_dir():
            from qa.store.notes import CorpusError

            raise CorpusError(f"notes folder not found: {corpus}")
        if not lib.freshness().fresh:
            say(summary(run_build(lib)))

    def is_note(change: Any, path: str) -> bool:
        name = Path(path).name
        return name.lower().endswith(NOTE_SUFFIXES) and not name.startswith(".")

    def rebuild() -> None:
        try:
            say(summary(run_build(lib)))
        except Fail as err:  # a bad state of the notes is reported, and we keep watching
            err.show()

    # A watch ends with the folder it watches: when the notes folder is removed (a
    # checkout, a sync tool), wait for it to come back, re-index it and watch it again.
    while True:
        say(f"Watching {corpus} for changes to notes (Ctrl-C to stop)…")
        with contextlib.suppress(FileNotFoundError):  # removed while the watch started
            for changes in watch_files(
                corpus,
                watch_filter=is_note,
                debounce=400,
                raise_interrupt=True,
                yield_on_timeout=True,
                rust_timeout=1000,
            ):
                if not corpus.is_dir():
                    break
                if changes:
                    say(f"Changed: {', '.join(sorted({Path(p).name for _, p in changes}))}")
                    rebuild()
        say(f"qa: the notes folder {corpus} is gone; waiting for it to come back…", err=True)
        while not corpus.is_dir():
            time.sleep(0.5)
        time.sleep(0.5)  # let whatever re-creates it finish writing
        say(f"The notes folder {corpus} is back.")
        rebuild()


@main.command(short_help="Answer a question from the notes (or each line of stdin).")
@click.argument("question", required=False)
@corpus_options
@click.option(
    "--top",
    "-k",
    "top_k",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many passages to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (JSONL for questions on stdin).")
@click.option(
    "--files",
    "as_files",
    is_flag=True,
    help="Print file:line of each hit, one per line (for fzf, editors, grep-like tools).",
)
@click.option("--no-build", is_flag=True, help="Do not build or update the index first.")
@click.option(
    "--in",
    "within",
    multiple=True,
    metavar="PATH",
    help="Search only this note or folder (relative to the notes folder; repeatable).",
)
def ask(
    question: str | None,
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    top_k: int,
    as_json: bool,
    as_files: bool,
    no_build: bool,
    within: tuple[str, ...],
) -> None:
    """Answer QUESTION from the notes; with no QUESTION, answer each line of stdin (JSONL)."""
    if question is None and sys.stdin.isatty():
        raise Fail('give a question, e.g. qa ask "what is dropout", or pipe questions on stdin')
    lib = library(corpus, index_dir, model)
    corpus = lib.corpus
    from qa.library import Policy
    from qa.retrieve.scope import resolve_within
    from qa.retrieve.search import QuestionError, clean_question

    if question is not None:
        with user_errors():
            clean_question(question)  # an empty question fails before any loading
    with user_errors():
        scope = [resolve_within(corpus, path) for path in within] or None
    with user_errors():
        with progress_bar() as progress:
            searcher = lib.open(Policy.EXISTING if no_build else Policy.FRESH, progress)
        if question is not None:
            answer = searcher.search(question, top_k, within=scope)
            _remember(corpus, answer)
            if as_json:
                click.echo(json_text(answer.to_json()))
            elif as_files:
                for hit in answer.hits:  # the answers only, best first, like rg --vimgrep
                    loc = hit.chunk.location
                    say(f"{corpus / loc.file}:{loc.start_line}")
            else:
                print_answer(answer)
            return
    # One record per line, blank lines included, always valid UTF-8: bytes that are not
    # UTF-8 are replaced (U+FFFD) and the record says so.
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace")
        invalid = "\ufffd" in line and "\ufffd".encode() not in raw
        line = line.strip()
        try:
            record = searcher.search(line, top_k, within=scope).to_json()
        except QuestionError as err:
            record = {"question": line, "error": str(err), "hits": []}
        if invalid:
            record["invalid_utf8"] = True
        click.echo(json_text(record))


def _remember(corpus: Path, answer: Any) -> None:
    """Keep the question in the folder's history, with its hits for `qa open N`."""
    from qa import places
    from qa.study import history

    history.record(places.history_path(corpus), history.asked(answer.question, "ask", answer))


@main.command("open")
@click.argument("number", type=click.IntRange(1, None), default=1)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    help="Folder of Markdown notes (default: the bundled notes).",
)
def open_(number: int, corpus: Path | None) -> None:
    """Open hit NUMBER (default 1) of the last question asked about the notes folder
    (by `qa ask` or the chat) in $VISUAL or $EDITOR, at its line."""
    from qa import places
    from qa.editor import editor_command, editor_problem
    from qa.store.notes import note_path
    from qa.study import history

    corpus = corpus or default_corpus()
    entry = history.last(places.history_path(corpus))
    if entry is None:
        raise Fail(f'no question asked about {corpus} yet; ask one: qa ask "…"')
    hits = entry.hits or []
    if not hits:
        raise Fail(f"the last question ({entry.question!r}) has no hits to open")
    if number > len(hits):
        raise Fail(f"the last question ({entry.question!r}) has {plural(len(hits), 'hit')}")
    file, _, line = hits[number - 1].rpartition(":")
    path = note_path(corpus, file)
    if path is None or not path.is_file():
        raise Fail(f"{file} is not in {corpus} any more")
    command = editor_command(path, int(line) if line.isdigit() else 1)
    problem = editor_problem()
    if command is None:
        raise Fail(
            f"{problem}, and neither nano nor vi is installed"
            if problem
            else "no editor found: set $EDITOR (for example `export EDITOR=nano`)"
        )
    if problem:
        say(f"qa: warning: {problem}; opening {Path(command[0]).name} instead", err=True)
    import subprocess

    try:
        done = subprocess.run(command, check=False)
    except OSError as err:
        raise Fail(f"cannot run {command[0]} ({err.strerror})") from None
    if done.returncode:
        raise Fail(f"the editor {command[0]} exited with status {done.returncode}")


@main.command(short_help="List the headings your notes ask but do not answer.")
@corpus_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--markdown",
    type=click.Path(path_type=Path),
    help="Write the report as a Markdown checklist to this file.",
)
@click.option("--no-build", is_flag=True, help="Do not build or update the index first.")
def gaps(
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    as_json: bool,
    markdown: Path | None,
    no_build: bool,
) -> None:
    """List every heading with nothing under it, by note: the sections elsewhere that may
    answer it, other empty headings that ask the same, and the questions asked here that
    the notes declined (what to write next)."""
    if as_json and markdown:
        raise Fail("choose one of --json and --markdown")
    if markdown is not None and markdown.is_dir():
        raise Fail(f"--markdown needs a file name, and {markdown} is a folder")
    lib = library(corpus, index_dir, model)
    corpus = lib.corpus
    from qa import places
    from qa.library import Policy
    from qa.study import gaps as find
    from qa.study import history

    with user_errors():
        with progress_bar() as progress:
            searcher = lib.open(Policy.EXISTING if no_build else Policy.FRESH, progress)
        report = find.find_gaps(searcher, history.read(places.history_path(corpus)))
        if markdown is not None:
            markdown.write_text(find.markdown_report(report, corpus), encoding="utf-8")
    if as_json:
        click.echo(json_text(report.to_json(), indent=1))
    elif markdown is not None:
        say(f"Wrote {markdown} ({plural(len(report.gaps), 'empty heading')}).")
    else:
        print_gaps(report)


def print_gaps(report: Any) -> None:
    """Each note's empty headings, each with its candidate answers or "nothing yet"."""
    notes = report.by_note()
    if not report.gaps:
        say("No heading in your notes is waiting for an answer.")
    else:
        asks = "asks" if len(report.gaps) == 1 else "ask"
        say(
            f"{plural(len(report.gaps), 'heading')} in {plural(len(notes), 'note')} {asks} a "
            f"question with nothing under it; {report.answered_elsewhere} may be answered "
            "elsewhere."
        )
    for file, found in notes.items():
        say()
        say(file)
        for gap in found:
            say(f"  {gap.place.line:>5}  {' › '.join(gap.place.heading_path)}")
            if gap.placeholder:
                say(f"         noted: {gap.placeholder}")
            if gap.template:
                say(f"         {gap.slot_note}")
            elif not gap.candidates:
                say("         nothing in your notes yet")
            for n, c in enumerate(gap.candidates):
                cue = f"  (confidence {gap.confidence:.2f})" if n == 0 else ""
                where = f"{c.place.file}:{c.place.line}"
                say(f"         → {where}  {' › '.join(c.place.heading_path)}{cue}")
            for d in gap.duplicates:
                say(f"         = same question at {d.place.file}:{d.place.line}  {d.place.heading}")
    if report.topics:
        say()
        say(f"What to write next ({plural(report.declined_questions, 'declined question')}):")
        for topic in report.topics:
            say(f"  {topic.count:>3} × {topic.label}")


@main.command(short_help="Serve the notes to editors and agents (MCP, or HTTP with --http).")
@corpus_options
@click.option("--http", "use_http", is_flag=True, help="Serve over HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (--http).")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Port (--http)."
)
@click.option("--watch", is_flag=True, help="Also re-index the notes whenever they change.")
@click.option("--no-build", is_flag=True, help="Do not build or update the index first.")
def serve(
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    use_http: bool,
    host: str,
    port: int,
    watch: bool,
    no_build: bool,
) -> None:
    """Serve the notes over the Model Context Protocol (stdio; --http for streamable HTTP
    plus GET /ask, /section, /health). Read-only; reloads when the index is rebuilt."""
    lib = library(corpus, index_dir, model)
    from qa import serve as server

    if use_http and host not in server.LOOPBACK:
        click.echo(
            f"qa: warning: binding {host}: anyone who can reach this address can read your notes",
            err=True,
        )
    with user_errors():
        server.run(lib, use_http, host, port, watch, auto_build=not no_build)


@main.command("eval")
@click.option(
    "--questions",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled questions, JSONL (default: questions.jsonl in the notes folder).",
)
@corpus_options
@click.option(
    "--split",
    type=click.Choice(["all", "dev", "test"]),
    default="all",
    show_default=True,
    help="Evaluate on one fixed half of the set.",
)
@click.option("--settings", "preset", help="Evaluate these named settings (see --compare).")
@click.option(
    "--compare",
    nargs=2,
    metavar="A B",
    help="Compare two named settings on the same questions, with p-values.",
)
@click.option("--by-channel", is_flag=True, help="Also score each channel alone.")
@click.option("--save-baseline", metavar="NAME", help="Save this run as a baseline.")
@click.option(
    "--against",
    metavar="NAME",
    help="List questions that got better or worse since a saved baseline.",
)
@click.option(
    "--coverage",
    "show_coverage",
    is_flag=True,
    help="List sections no question retrieves, and boilerplate headings.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as Markdown to this file.",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a chart of the metrics by language and channel.",
)
@click.option("--browse", is_flag=True, help="Browse the missed questions in a TUI.")
def eval_(
    questions: Path | None,
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    split: str,
    preset: str | None,
    compare: tuple[str, str] | None,
    by_channel: bool,
    save_baseline: str | None,
    against: str | None,
    show_coverage: bool,
    as_json: bool,
    markdown: Path | None,
    png: Path | None,
    browse: bool,
) -> None:
    """Score retrieval on a labelled question set, per language.

    Named settings: default, bm25, minilm, e5, bm25+minilm, rrf, no-glossary, and any
    [settings.NAME] table in qa.toml in the notes folder.
    """
    lib = library(corpus, index_dir, model)
    corpus, settings = lib.corpus, lib.settings
    from qa.eval import workbench
    from qa.eval.evaluate import load_labelled, unmatched_labels
    from qa.presets import get_preset, load_presets

    with user_errors():
        questions = questions or corpus / "questions.jsonl"
        items = load_labelled(questions)
        if split != "all":
            items = [i for i in items if i.split == split]
        presets = load_presets(corpus)
        if preset:
            settings = get_preset(preset, presets)
        with progress_bar() as progress:
            if compare:
                a, b = (get_preset(name, presets) for name in compare)
                reports = [
                    workbench.run_eval(workbench.searcher_for(lib, s, progress), items)
                    for s in (a, b)
                ]
                comparison = workbench.compare_reports(compare, reports[0], reports[1])
            else:
                searcher = workbench.searcher_for(lib, settings, progress)
                for problem in unmatched_labels(items, searcher.index.chunks):
                    say(f"qa: warning: {questions}: {problem}", err=True)
                report = workbench.run_eval(searcher, items)
                from qa.eval.sentence_eval import sentence_report

                sentences = sentence_report(searcher, items)  # when lines have "answer"
                channels = (
                    workbench.by_channel(
                        settings,
                        lambda s: workbench.searcher_for(lib, s, progress),
                        items,
                    )
                    if by_channel or png
                    else None
                )
        if compare:
            _finish_compare(comparison, as_json, png)
            return
        from qa.eval import report as show

        data = report.to_json()
        if sentences is not None:
            data["sentences"] = sentences
        if channels:
            data["by_channel"] = {name: r.groups for name, r in channels.items()}
        if against:
            diff = workbench.diff_against(
                report, workbench.load_baseline(workbench.baseline_path(against, questions))
            )
            data["against"] = {
                "name": against,
                "metric_deltas": diff.metric_deltas,
                "better": [c.__dict__ for c in diff.better],
                "worse": [c.__dict__ for c in diff.worse],
            }
        if show_coverage:
            cov = workbench.coverage(report, searcher.index)
            data["coverage"] = {
                "unretrieved": [[f, n, list(p)] for f, n, p in cov.unretrieved],
                "repeated_headings": [list(r) for r in cov.repeated],
            }
        if save_baseline:
            path = workbench.baseline_path(save_baseline, questions)
            workbench.save_baseline(report, path, settings)
        if markdown:
            markdown.write_text(show.markdown_report(report, channels), encoding="utf-8")
        if png:
            show.write_png(png, channels or {"fused": report})
    if browse:
        from qa.tui.failures import browse_failures

        browse_failures(report, searcher.index.chunks)
        return
    if as_json:
        click.echo(json_text(data, indent=1))
        return
    show.print_eval_report(report)
    if sentences is not None:
        from rich.console import Console

        from qa.eval.sentence_eval import sentences_table

        Console().print(sentences_table(sentences))
    if channels:
        from rich.console import Console

        Console().print(show.channels_table(channels))
    if against:
        show.print_diff(diff, against)
    if show_coverage:
        show.print_coverage(cov)
    written: list[Path | None] = [markdown, png]
    if save_baseline:
        written.insert(0, workbench.baseline_path(save_baseline, questions))
    for out in written:
        if out:
            say(f"Wrote {out}")


def _finish_compare(comparison: Any, as_json: bool, png: Path | None) -> None:
    from qa.eval import report as show

    if png:
        show.write_png(png, dict(zip(comparison.names, comparison.reports, strict=True)))
    if as_json:
        click.echo(json_text(comparison.to_json(), indent=1))
        return
    show.print_comparison(comparison)
    if png:
        say(f"Wrote {png}")


@main.command(short_help="Drill your notes: their questions, with spaced repetition.")
@corpus_options
@click.option(
    "--in",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Only cards from this note or folder (repeatable).",
)
@click.option(
    "--new",
    "new_per_day",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="New cards per day.",
)
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Only questions in this language.")
@click.option(
    "--generated/--no-generated",
    default=None,
    help="Use cards whose front qa made from a topic heading (remembered; on by default).",
)
@click.option("--stats", is_flag=True, help="Print reviews per day, retention, due cards.")
@click.option(
    "--png", type=click.Path(dir_okay=False, path_type=Path), help="With --stats: also a chart."
)
@click.option("--add", "question", metavar="QUESTION", help="Add a question you ask as a card.")
@click.option("--no-build", is_flag=True, help="Do not build or update the index first.")
def quiz(
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    paths: tuple[Path, ...],
    new_per_day: int,
    lang: str | None,
    generated: bool | None,
    stats: bool,
    png: Path | None,
    question: str | None,
    no_build: bool,
) -> None:
    """Drill the questions your notes ask and answer, scheduled with FSRS."""
    if png and not stats:
        raise Fail("--png goes with --stats")
    lib = library(corpus, index_dir, model)
    corpus, settings = lib.corpus, lib.settings
    if not corpus.is_dir():
        raise Fail(f"notes folder not found: {corpus}")
    from qa.library import Policy
    from qa.study import quiz_store

    policy = Policy.EXISTING if no_build else Policy.FRESH
    from qa.study.quiz import relative_filter

    with user_errors():
        store = quiz_store.QuizStore(quiz_store.store_path(corpus))
        if stats:
            from rich.console import Console

            from qa.study.quiz_report import stats_tables, write_stats_png

            numbers = store.stats()
            Console().print(stats_tables(numbers))
            if png:
                write_stats_png(numbers, png)
                say(f"Wrote {png}")
            return
        try:
            wanted = relative_filter(corpus, paths)
        except ValueError as err:
            raise Fail(str(err)) from None
        if question is not None:
            from qa.retrieve.search import clean_question

            question = clean_question(question)
            with progress_bar() as progress:
                searcher = lib.open(policy, progress)
            answer = searcher.search(question, 1)
            if answer.declined or not answer.hits:
                raise Fail(f"your notes do not answer {question!r}, so it has no back")
            try:
                card = quiz_store.add_question(
                    store, question, searcher.index.chunks, answer.hits[0].chunk
                )
            except ValueError as err:
                raise Fail(str(err)) from None
            say(f"Added: {card.front}  →  {card.file}:{card.line} › {card.section.heading}")
            return
        with progress_bar() as progress:
            index = lib.load(policy, progress, channels=())
        drill = quiz_store.open_drill(
            store,
            index.chunks,
            paths=wanted,
            lang=lang,
            new_per_day=new_per_day,
            generated=generated,
        )
        from qa.tui.quiz import QuizApp

        glossary = index.glossary  # as the index was built, not re-read from the folder
    QuizApp(drill, corpus, glossary, settings.follow_links).run()


@main.command(short_help="Show mined term pairs, or look up a term.")
@corpus_options
@click.argument("term", required=False)
@click.option(
    "--veto",
    metavar="PAIR",
    help='Never take this mined pair again ("方法 = Glorot and Bengio", as listed; or one '
    "form, for every pair with it). Written to glossary.tsv in the notes folder.",
)
def glossary(
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    term: str | None,
    veto: str | None,
) -> None:
    """Show the term pairs mined from your notes, or look up TERM in the glossary.

    A pair that is wrong for your notes is vetoed with --veto, or by a line
    `!中文<TAB>English` in the notes folder's glossary.tsv."""
    lib = library(corpus, index_dir, model)
    corpus = lib.corpus
    from qa.lang.glossary import (
        USER_FILE,
        VETO,
        load_glossary,
        match_form,
        parse_veto,
    )
    from qa.store.index import IndexCorrupt, current_generation, read_left_out, read_mined

    vetoed: tuple[str, ...] = ()
    if veto is not None:
        if term:
            raise Fail("give either a term to look up or --veto, not both")
        if any(ch in veto for ch in "\r\n\x00"):
            raise Fail("--veto takes one pair, on one line")
        line = VETO + veto.strip().lstrip(VETO).strip()
        parsed = parse_veto(line)
        if parsed is None:
            raise Fail("--veto needs a pair as `qa glossary` lists it: 中文 = English")
        vetoed = parsed
        with user_errors():
            add_veto(corpus / USER_FILE, line)
        say(f"Vetoed {line[1:]} in {corpus / USER_FILE}.")
    with user_errors(), progress_bar() as progress:
        if not lib.freshness().fresh:
            lib.build(progress=progress)
        generation = current_generation(lib.index_dir)
        try:
            left_out = read_left_out(generation)
        except IndexCorrupt:  # only this listing reads it: a build writes it again
            lib.build(progress=progress)
            generation = current_generation(lib.index_dir)
            left_out = read_left_out(generation)
        mined = read_mined(generation)
    if vetoed and not any(
        set(vetoed) <= {match_form(f) for f in o.concept.forms} for o in left_out
    ):
        say(f"No mined pair has {' and '.join(vetoed)}: the veto drops nothing for now.")
    glossary = load_glossary(corpus, mined)
    if term:
        expansion = glossary.expand(term)
        if not expansion.matches:
            raise Fail(f"{term!r} is not in the glossary")
        for match in expansion.matches:
            for concept in match.concepts:
                say(f"{match.text}: {' | '.join(concept.forms)}  ({concept.source})")
        return
    say(f"Glossary: {len(glossary)} terms ({len(mined)} mined from your notes).")
    if not mined:
        say("No term pairs such as 过拟合（Overfitting） were found in your notes.")
    for concept in mined:
        say(f"  {' = '.join(concept.forms)}    {concept.source}")
    if left_out:
        say(f"Left out ({len(left_out)}):")
        for out in left_out:
            say(f"  {' = '.join(out.concept.forms)}    {out.concept.source}: {out.why}")
    if mined:
        say('A wrong pair: qa glossary --veto "中文 = English".')


def add_veto(path: Path, line: str) -> None:
    """Append a veto line to a glossary file (made when missing), in place: the file keeps
    its lines, line endings, permissions and links."""
    from qa.lang.glossary import glossary_lines

    if not path.exists():
        header = (
            "# qa glossary: one term per line, its forms separated by tabs; "
            "a line starting with ! vetoes a mined pair.\n"
        )
        path.write_text(header + line + "\n", encoding="utf-8")
        return
    lines = glossary_lines(path)  # GlossaryFileError when it is not UTF-8
    if line in (row.strip() for row in lines):
        return
    raw = path.read_bytes()
    newline = b"\r\n" if b"\r\n" in raw else b"\n"
    with open(path, "ab") as f:
        if raw and not raw.endswith(b"\n"):
            f.write(newline)
        f.write(line.encode("utf-8") + newline)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def print_answer(answer: Any) -> None:
    """Rank, score, file:line, heading path and passage of each hit.

    When the notes do not seem to answer the question, say so first and show the
    nearest sections briefly instead of presenting them as answers.
    """
    style = sys.stdout.isatty()

    def bold(text: str) -> str:
        return click.style(text, bold=True) if style else text

    if not answer.hits and not answer.unanswered:
        click.echo("Nothing in your notes matches this question.")
    if answer.declined and answer.hits:
        click.echo(
            f"Your notes don't seem to answer this (confidence {answer.confidence:.2f}). "
            "The nearest sections:\n"
        )
    from qa.retrieve.confidence import confidence_cue

    cue = confidence_cue(answer).text(answer.confidence)
    for hit in answer.hits:
        loc = hit.chunk.location
        line = f"{hit.rank}. {loc.file}:{loc.start_line}  (score {hit.score:.3f})"
        if hit.rank == 1 and not answer.declined:
            line += f"  {cue}"  # how sure qa is that this one answers, as in the chat
        click.echo(bold(safe_text(line)))
        say("   " + " › ".join(loc.heading_path))
        for other in hit.chunk.locations[1:]:
            say(f"   also in {other.file}:{other.start_line}")
        text = hit.chunk.text
        spans = [] if answer.declined or not style else (hit.answer_spans or [])
        lines = _emboldened(text[:MAX_PRINTED_CHARS], spans)
        if answer.declined:
            lines = lines[:2] + (["…"] if len(lines) > 2 else [])
        elif len(text) > MAX_PRINTED_CHARS:
            more = len(text) - MAX_PRINTED_CHARS
            lines.append(f"… ({more} more characters; --json shows the whole passage)")
        click.echo()
        for line in lines:
            click.echo("   " + line if line else "")
        click.echo()
    if answer.unanswered:
        click.echo("Your notes ask this but do not answer it yet:")
        for hit in answer.unanswered:
            loc = hit.chunk.location
            say(f"   {loc.file}:{loc.start_line}  {' › '.join(loc.heading_path)}")
            # A placeholder ("TODO", one link) says where the answer may be found.
            if hit.chunk.placeholder:
                say(f"      {hit.chunk.placeholder}")


def _emboldened(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """The lines of ``text``, made safe for a terminal, with the answering sentences
    (``spans``, offsets into ``text``) in bold."""
    bold = sorted((a, min(b, len(text))) for a, b in spans if a < len(text))
    lines = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        pieces = []
        at = pos
        for a, b in bold:
            a, b = max(a, pos), min(b, end)
            if a >= b or a < at:
                continue
            pieces += [safe_text(text[at:a]), click.style(safe_text(text[a:b]), bold=True)]
            at = b
        pieces.append(safe_text(text[at:end]))
        lines.append("".join(pieces))
        pos = end + 1
    if lines and not lines[-1]:
        lines.pop()
    return lines


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for long work: a bar on a terminal; to a file or a pipe, one
    line per stage on stderr, with its counts and time (qa.progress)."""
    if not sys.stderr.isatty():
        from qa.progress import StageLines

        lines = StageLines(lambda line: say(line, err=True))
        try:
            yield lines
        finally:
            lines.close()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
    )
    tasks: dict[str, Any] = {}
    with bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def run() -> NoReturn:
    """Entry point: no traceback reaches the user unless QA_DEBUG is set."""
    try:
        # Not standalone: click would turn Ctrl-C into "Aborted!" and exit status 1.
        code = main.main(standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.exceptions.Abort as err:
        click.echo(err=True)
        interrupted = isinstance(err.__cause__ or err.__context__, KeyboardInterrupt)
        sys.exit(130 if interrupted else 1)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except BrokenPipeError:
        end_on_closed_pipe()
    except Exception as err:  # a bug: say so in one line
        if os.environ.get("QA_DEBUG"):
            raise
        click.echo(
            f"qa: internal error: {type(err).__name__}: {err} (set QA_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
