"""Provides ``lsr simulate`` and the prioritisation commands of a review.

* ``lsr prioritise --stage ta [--model M] [--json]`` re-ranks the stage's queue now (the TUI
  does it in the background as decisions arrive) and stores the ranking;
* ``lsr stopping --stage ta [--json]`` prints the stopping rule's estimate;
* ``lsr stop --stage ta --reviewer LEAD [--note TEXT]`` records a lead's decision to stop:
  records left unscreened then count in PRISMA as excluded by automation tools.

``lsr simulate DATASET.csv [--label COLUMN] [--seed S] [--model M] [--json] [--plot FILE]``
reports WSS@95 (classic), recall at 10% and 20% screened, records needed for 95% and 100%
of includes, the stopping rule's stop point and recall there, and seconds per retrain. It
needs no workspace. ``cli.py`` wires it with one line, ``register(app)``; the core is
imported inside the command so ``lsr --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from living_review.cli_base import emit_json, open_workspace

#: The JSON keys the issue promises (the JSON object carries more).
JSON_KEYS = ("wss95", "recall_at_10", "recall_at_20", "n_for_95", "stop_at", "recall_at_stop")


def simulate(
    dataset: Path = typer.Argument(..., help="CSV with title, abstract and a 0/1 label column."),
    label: str | None = typer.Option(
        None, "--label", help="Label column, e.g. label_included or label_abstract_screening."
    ),
    seed: int = typer.Option(0, "--seed", help="Chooses the 1 include + 1 exclude prior."),
    model: str | None = typer.Option(None, "--model", help="lr, svm, nb or ensemble."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the recall curve as a PNG."),
) -> None:
    """Replay a labelled screening dataset: work saved, recall, and the stopping rule."""
    from living_review.errors import InputFileError
    from living_review.screening.prioritise import PrioritySettings
    from living_review.simulate import load_dataset, plot_recall
    from living_review.simulate import simulate as run

    if not dataset.is_file():
        raise InputFileError(dataset, "no such file")
    settings = PrioritySettings(model=model) if model else PrioritySettings()
    result = run(load_dataset(dataset, label), seed=seed, settings=settings)
    if plot is not None:
        plot_recall(result, plot)
    if as_json:
        out = result.as_json()
        out.pop("recall_curve")
        emit_json(out)
        return
    n, r = result.n, result.r
    typer.echo(f"{result.dataset}: {n:,} records, {r} includes (priors excluded), seed {seed}")
    typer.echo(f"  WSS@95 (classic)         {result.wss95:.3f}")
    typer.echo(f"  recall at 10% / 20%      {result.recall_at_10:.1%} / {result.recall_at_20:.1%}")
    typer.echo(f"  records for 95% / 100%   {result.n_for_95:,} / {result.n_for_100:,}")
    typer.echo(
        f"  stopping rule            stop after {result.stop_at:,} "
        f"(random sampling from {result.switch_at:,}), recall {result.recall_at_stop:.1%}"
    )
    typer.echo(
        f"  ranked quasi-sampling    stop after {result.stop_at_ranked:,}, "
        f"recall {result.recall_at_stop_ranked:.1%}"
    )
    typer.echo(
        f"  retrains                 {result.retrains}, {result.seconds_per_retrain:.3f} s each"
    )
    if plot is not None:
        typer.echo(f"  recall curve             {plot}")


STAGE_HELP = "ta (title/abstract) or ft (full text)."


def prioritise(
    stage: str = typer.Option("ta", "--stage", help=STAGE_HELP),
    model: str | None = typer.Option(None, "--model", help="lr, svm, nb or ensemble."),
    single: bool = typer.Option(
        False, "--single-labels", help="Learn from single reviewers' decisions too."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Re-rank the stage's queue by predicted relevance and store the ranking."""
    from dataclasses import replace

    from living_review.screening.prioritise import LIVE_SETTINGS, compute_ranking

    ws = open_workspace()
    settings = replace(LIVE_SETTINGS, use_single_labels=single)
    if model:
        settings = replace(settings, model=model)
    row = compute_ranking(engine=ws.engine, protocol=ws.protocol, stage=stage, settings=settings)
    out = {
        "id": row.id,
        "stage": row.stage,
        "model": row.model,
        "settings": row.settings,
        "label_source": row.label_source,
        "training_size": row.training_size,
        "n_includes": row.n_includes,
        "fingerprint": row.fingerprint,
        "seconds": row.seconds,
        "top": row.order[:10],
    }
    if as_json:
        emit_json(out)
        return
    typer.echo(
        f"ranked {len(row.order):,} records at {stage} with {row.model} "
        f"(learnt from {row.training_size:,} decisions, {row.n_includes:,} includes) "
        f"in {row.seconds:.2f} s; next up: {', '.join(map(str, row.order[:5]))}"
    )


def stopping(
    stage: str = typer.Option("ta", "--stage", help=STAGE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The stopping rule's estimate: is >= 95% recall shown with 95% confidence?"""
    from living_review.screening import check_stage
    from living_review.screening.stopping import stage_estimate

    ws = open_workspace()
    est = stage_estimate(engine=ws.engine, protocol=ws.protocol, stage=check_stage(stage))
    if as_json:
        emit_json(est.as_json())
    else:
        typer.echo(est.sentence())


def stop(
    stage: str = typer.Option("ta", "--stage", help=STAGE_HELP),
    reviewer: str = typer.Option(..., "--reviewer", help="The lead who decides."),
    note: str | None = typer.Option(None, "--note", help="Why, in the lead's words."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record a lead's decision to stop screening the stage (never automatic)."""
    from living_review.screening.stopping import record_stop

    ws = open_workspace()
    row = record_stop(
        engine=ws.engine, protocol=ws.protocol, stage=stage, reviewer=reviewer, note=note
    )
    if as_json:
        emit_json(
            {
                "id": row.id,
                "stage": row.stage,
                "rule": row.rule,
                "parameters": row.parameters,
                "estimate": row.estimate,
            }
        )
        return
    typer.echo(f"screening at {stage} stopped by {reviewer}: {row.estimate['sentence']}")


def register(app: typer.Typer) -> None:
    """Add ``lsr simulate``, ``prioritise``, ``stopping`` and ``stop`` to the main app."""
    app.command("simulate")(simulate)
    app.command("prioritise")(prioritise)
    app.command("stopping")(stopping)
    app.command("stop")(stop)
