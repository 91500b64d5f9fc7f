"""Provides ``lsr dedup``: the automatic pass, the review queue, decisions and splits.

``cli.py`` adds :data:`dedup_app` with ``app.add_typer(dedup_app, name="dedup")``. This module
imports ``living_review.cli`` only inside functions, so that import is not circular.

* ``lsr dedup [--json]`` runs the automatic pass over records no pass has seen and prints
  counts (or the JSON contract: ``clusters`` as lists of source keys, ``possible`` as pairs
  with ``score``).
* ``lsr dedup review --reviewer NAME`` shows each possible pair side by side with the
  differing words marked; keys ``s`` same, ``d`` different, ``k`` skip, ``q`` quit.
* ``lsr dedup decide A B same|different --reviewer NAME`` is the same verdict for scripts.
* ``lsr dedup split RECORD`` reverses a merge; who and why are stored with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from living_review.cli_base import emit_json, fail, open_workspace

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from living_review.dedup.service import FieldDiff, PassResult, PossiblePair

dedup_app = typer.Typer(
    help="Find duplicates across databases; review, decide and reverse merges.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _engine() -> Engine:
    return open_workspace().engine


@dedup_app.callback(invoke_without_command=True)
def dedup_main(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    review: bool = typer.Option(
        False, "--review", help="After the pass, open the review of possible pairs."
    ),
    reviewer: str | None = typer.Option(
        None, "--reviewer", "-r", help="Who reviews (with --review)."
    ),
) -> None:
    """Run the automatic pass (new records only) and print what the store holds."""
    if ctx.invoked_subcommand is not None:
        return
    from living_review.dedup.service import dedup_json, run_dedup

    engine = _engine()
    result = run_dedup(engine)
    if as_json:
        out = dedup_json(engine)
        out["pass"] = result.as_json()
        emit_json(out)
        return
    typer.echo(dedup_summary(result))
    if review:
        if not reviewer:
            fail("--review needs --reviewer NAME", 2)
        _review_loop(engine, reviewer)


def dedup_summary(result: PassResult) -> str:
    """Say what a dedup pass did and where the PRISMA counts stand, in two lines."""
    c = result.counts
    return (
        f"dedup: compared {result.records_compared:,} new records ({result.pairs_scored:,} "
        f"pairs): {result.merged_pairs:,} merged, {result.possible_pairs:,} to review, "
        f"{result.kept_apart:,} look-alikes kept apart by rule\n"
        f"identified {c.identified:,}; duplicates removed {c.removed:,} "
        f"({c.removed_at_import:,} at import, {c.removed_by_dedup:,} by dedup); "
        f"unique records {c.unique:,}"
    )


@dedup_app.command("review")
def review_cmd(
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who reviews."),
) -> None:
    """Review possible pairs side by side: s(ame) / d(ifferent) / k (skip) / q(uit)."""
    _review_loop(_engine(), reviewer)


def _style_segments(segments: list[tuple[str, bool]]) -> str:
    return " ".join(
        typer.style(text, fg=typer.colors.YELLOW, bold=True, underline=True) if differs else text
        for text, differs in segments
    )


def render_pair(pair: PossiblePair, fields: list[FieldDiff], *, width: int = 100) -> str:
    """Return a pair as text: each field for A then B, differing words highlighted."""
    lines = [
        f"possible duplicate  score {pair.score:.3f}  ({pair.reason or 'no reason'})",
        f"  A = record {pair.record_a} [{pair.key_a}]   B = record {pair.record_b} [{pair.key_b}]",
    ]
    for f in fields:
        mark = " " if f.same else "*"
        a = _style_segments(f.segments_a) if not f.same else f.value_a
        b = _style_segments(f.segments_b) if not f.same else f.value_b
        if f.name == "abstract":
            a, b = a[: width * 3], b[: width * 3]
        lines.append(f"{mark} {f.name:<17} A: {a}")
        lines.append(f"  {'':<17} B: {b}")
    return "\n".join(lines)


def _review_loop(engine: Engine, reviewer: str) -> None:
    from living_review.dedup.service import decide, pair_view, possible_pairs

    pending = possible_pairs(engine)
    if not pending:
        typer.echo("no pairs to review")
        return
    done = 0
    for n, pair in enumerate(pending, start=1):
        typer.echo("")
        typer.echo(f"[{n}/{len(pending)}]")
        typer.echo(render_pair(pair, pair_view(engine, pair.record_a, pair.record_b)))
        while True:
            key = typer.prompt("s(ame) / d(ifferent) / k (skip) / q(uit)", default="k").strip()
            key = key[:1].lower()
            if key in {"s", "d", "k", "q"}:
                break
        if key == "q":
            break
        if key == "k":
            continue
        decide(
            engine,
            pair.record_a,
            pair.record_b,
            "same" if key == "s" else "different",
            reviewer=reviewer,
            reason="reviewed side by side",
        )
        done += 1
    typer.echo(f"{done} decision(s) recorded")


@dedup_app.command("decide")
def decide_cmd(
    record_a: int = typer.Argument(..., help="First record id."),
    record_b: int = typer.Argument(..., help="Second record id."),
    verdict: str = typer.Argument(..., help="same|different"),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who decides."),
    reason: str | None = typer.Option(None, "--reason", help="Why (stored with the decision)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record a reviewer's verdict on a pair (non-interactive form of review)."""
    from living_review.dedup.service import decide

    if verdict not in ("same", "different"):
        fail(f"verdict must be 'same' or 'different', not {verdict!r}", 2)
    n = decide(
        _engine(),
        record_a,
        record_b,
        "same" if verdict == "same" else "different",
        reviewer=reviewer,
        reason=reason,
    )
    if as_json:
        emit_json({"record_a": record_a, "record_b": record_b, "verdict": verdict, "links": n})
    else:
        typer.echo(f"records {record_a} and {record_b}: {verdict} ({n} link(s) written)")


@dedup_app.command("split")
def split_cmd(
    record: int = typer.Argument(..., help="The record to take out of its cluster."),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who decides."),
    reason: str | None = typer.Option(None, "--reason", help="Why (stored with the split)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Reverse a merge: take RECORD out of its cluster (recorded, never re-merged)."""
    from living_review.dedup.service import split

    n = split(_engine(), record, reviewer=reviewer, reason=reason)
    if as_json:
        emit_json({"record": record, "links_reversed": n})
    else:
        typer.echo(f"record {record} split from its cluster ({n} link(s) reversed)")
