"""The ``qa`` command: build the index, ask questions, evaluate retrieval."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from qa.threads import limit_native_threads

limit_native_threads()

import click  # noqa: E402

from qa.settings import Settings, default_corpus, default_index  # noqa: E402


class Fail(click.ClickException):
    """A one-line error for the user; exit code 1 (2 is left for usage errors)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"qa: error: {self.message}", err=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    from qa.encoders import UnknownNameError
    from qa.evaluate import LabelError
    from qa.index import IndexError_
    from qa.notes import CorpusError
    from qa.search import QuestionError

    return (CorpusError, IndexError_, QuestionError, UnknownNameError, LabelError)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear line, never a traceback."""
    try:
        yield
    except _user_errors() as err:
        raise Fail(str(err)) from None
    except RuntimeError as err:  # a model that cannot load, say
        raise Fail(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


def corpus_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def resolve(
    corpus: Path | None, index_dir: Path | None, model: str | None
) -> tuple[Path, Path, Settings]:
    corpus = corpus or default_corpus()
    settings = Settings()
    if model:
        from qa.encoders import get_encoder

        with user_errors():
            get_encoder(model)  # an unknown name fails here, before any work
        settings = settings.with_model(model)
    return corpus, index_dir or default_index(corpus), settings


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Ask your Markdown notes questions, in English or Chinese.

    Run `qa` alone to open the chat screen on the bundled notes.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(chat)


@main.command()
@corpus_options
def chat(corpus: Path | None, index_dir: Path | None, model: str | None) -> None:
    """Open the interactive chat screen (the default command)."""
    corpus, index_dir, settings = resolve(corpus, index_dir, model)
    from qa.tui.app import run_app

    run_app(corpus, index_dir, settings)


@main.command()
@corpus_options
@click.option("--full", is_flag=True, help="Re-embed everything instead of only what changed.")
def build(corpus: Path | None, index_dir: Path | None, model: str | None, full: bool) -> None:
    """Index the notes (only changed sections are re-embedded)."""
    corpus, index_dir, settings = resolve(corpus, index_dir, model)
    from qa.index import build_index

    with user_errors(), progress_bar() as progress:
        report = build_index(corpus, index_dir, settings, progress=progress, full=full)
    for problem in report.problems:
        click.echo(f"qa: warning: {problem}", err=True)
    embedded = ", ".join(f"{name} {n}" for name, n in report.embedded.items()) or "nothing"
    click.echo(
        f"Indexed {plural(report.notes, 'note')} into {plural(report.chunks, 'section')} "
        f"({plural(report.unanswered, 'unanswered heading')}) in {report.seconds:.1f} s.\n"
        f"Sections: {report.added} added, {report.changed} changed, {report.removed} removed, "
        f"{report.unchanged} unchanged. Embedded: {embedded}.\n"
        f"Index: {index_dir}"
    )


@main.command()
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
@click.option("--no-build", is_flag=True, help="Do not build or update the index first.")
def ask(
    question: str | None,
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    top_k: int,
    as_json: bool,
    no_build: bool,
) -> None:
    """Answer QUESTION from the notes; with no QUESTION, answer each line of stdin (JSONL)."""
    if question is None and sys.stdin.isatty():
        raise Fail('give a question, e.g. qa ask "what is dropout", or pipe questions on stdin')
    corpus, index_dir, settings = resolve(corpus, index_dir, model)
    from qa.search import QuestionError, Searcher, clean_question

    if question is not None:
        with user_errors():
            clean_question(question)  # an empty question fails before any loading
    with user_errors():
        with progress_bar() as progress:
            searcher = Searcher.open(
                corpus, index_dir, settings, auto_build=not no_build, progress=progress
            )
        if question is not None:
            answer = searcher.search(question, top_k)
            if as_json:
                click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
            else:
                print_answer(answer)
            return
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            record = searcher.search(line, top_k).to_json()
        except QuestionError as err:
            record = {"question": line, "error": str(err), "hits": []}
        click.echo(json.dumps(record, ensure_ascii=False))


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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_(
    questions: Path | None,
    corpus: Path | None,
    index_dir: Path | None,
    model: str | None,
    split: str,
    as_json: bool,
) -> None:
    """Score retrieval on a labelled question set, per language."""
    corpus, index_dir, settings = resolve(corpus, index_dir, model)
    from qa.evaluate import evaluate, load_labelled
    from qa.search import Searcher

    with user_errors():
        items = load_labelled(questions or corpus / "questions.jsonl")
        if split != "all":
            items = [i for i in items if i.split == split]
        with progress_bar() as progress:
            searcher = Searcher.open(corpus, index_dir, settings, progress=progress)
        report = evaluate(items, lambda q: searcher.search(q, 10))
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
        return
    from qa.report import print_eval_report

    print_eval_report(report)


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
        click.echo(f"Your notes don't seem to answer this (confidence {answer.confidence:.2f}). "
                   "The nearest sections:\n")
    for hit in answer.hits:
        loc = hit.chunk.location
        click.echo(bold(f"{hit.rank}. {loc.file}:{loc.start_line}  (score {hit.score:.3f})"))
        click.echo("   " + " › ".join(loc.heading_path))
        for other in hit.chunk.locations[1:]:
            click.echo(f"   also in {other.file}:{other.start_line}")
        lines = hit.chunk.text.splitlines()
        if answer.declined:
            lines = lines[:2] + (["…"] if len(lines) > 2 else [])
        click.echo()
        for line in lines:
            click.echo("   " + line if line else "")
        click.echo()
    if answer.unanswered:
        click.echo("Your notes ask this but do not answer it yet:")
        for hit in answer.unanswered:
            loc = hit.chunk.location
            click.echo(f"   {loc.file}:{loc.start_line}  {' › '.join(loc.heading_path)}")


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for long work: a bar on a terminal, silence otherwise."""
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
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
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # a bug: say so in one line
        if os.environ.get("QA_DEBUG"):
            raise
        click.echo(
            f"qa: internal error: {type(err).__name__}: {err} (set QA_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
