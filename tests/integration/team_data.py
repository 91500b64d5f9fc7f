"""Builds small but complete reviews for the team-mode tests (export, audit, concurrency).

Not a test module: the concurrency and crash tests' child processes import it too, so it
depends on nothing but the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.dedup.service import run_dedup
from living_review.extraction.service import add_study
from living_review.importing import RunInfo, import_records
from living_review.protocol import Protocol
from living_review.screening.conflicts import resolve, unblind_stage
from living_review.screening.decisions import record_decision, undo_decision
from living_review.screening.queue import sync_assignments
from living_review.screening.reviewers import add_reviewer
from living_review.sources.base import ParsedRecord
from living_review.store.models import Record, Reviewer, ScreeningAssignment
from living_review.workspace import Workspace

TEAM = (("ana", "lead"), ("ben", "reviewer"), ("chloe", "reviewer"))


def setup_team(
    ws: Workspace, *, team: Sequence[tuple[str, str]] = TEAM, screening: str = 'mode = "dual"'
) -> Protocol:
    """Name the team (and screening mode) in the workspace's protocol, before first use."""
    text = ws.protocol_path.read_text(encoding="utf-8")
    text = text.replace('[screening]\nmode = "dual"\n', f"[screening]\n{screening}\n")
    text += "".join(f'\n[[reviewers]]\nname = "{n}"\nrole = "{r}"\n' for n, r in team)
    ws.protocol_path.write_text(text, encoding="utf-8")
    ws.__dict__.pop("protocol", None)
    return ws.protocol


def make_records(
    n: int, *, database: str = "pubmed", start: int = 1, tag: str = ""
) -> list[ParsedRecord]:
    """``n`` distinct records (distinct titles, so dedup keeps them apart)."""
    words = ("sorafenib", "regorafenib", "cabozantinib", "ramucirumab", "placebo", "lenvatinib")
    return [
        ParsedRecord(
            source_key=f"{database}{tag}-{start + i}",
            title=f"Trial {tag}{start + i}: {words[i % 6]} versus {words[(i + 1) % 6]} in "
            f"cohort {start + i} of advanced hepatocellular carcinoma ({tag or 'main'})",
            authors=[f"Author{start + i} A", "Müller B", "Ørsted C"],
            year=2010 + (i % 12),
            journal="J Hepatol",
            doi=f"10.1000/{tag}x{start + i}",
            keywords=["HCC", "second-line"],
            extra={"nested": {"k": [1, 2.5, None, "é"]}, "n": start + i},
            raw=f"PMID- {start + i}\nTI  - raw text «{tag}» with\ttab and ünïcode\n",
        )
        for i in range(n)
    ]


def ids_by_key(ws: Workspace, recs: Sequence[ParsedRecord]) -> list[int]:
    """The store ids of ``recs`` in order."""
    keys = {r.source_key for r in recs}
    with Session(ws.engine) as s:
        rows = s.execute(select(col(Record.source_key), col(Record.id))).all()
    by_key = {k: i for k, i in rows if k in keys}
    return [by_key[r.source_key] for r in recs if r.source_key]


def screeners(ws: Workspace, stage: str = "ta") -> dict[int, list[str]]:
    """Each assigned record's reviewers (by name, in id order)."""
    with Session(ws.engine) as s:
        rows = s.execute(
            select(col(ScreeningAssignment.record_id), col(Reviewer.name))
            .join(Reviewer, col(Reviewer.id) == col(ScreeningAssignment.reviewer_id))
            .where(col(ScreeningAssignment.stage) == stage)
            .order_by(col(ScreeningAssignment.record_id), col(Reviewer.id))
        ).all()
    out: dict[int, list[str]] = {}
    for rid, name in rows:
        out.setdefault(rid, []).append(name)
    return out


def populate(ws: Workspace) -> Protocol:
    """A review touching most tables: import, dedup (with a duplicate), decisions, undo,
    a resolved conflict, an unblinding, an added reviewer, a study."""
    p = setup_team(ws)
    recs = make_records(12)
    import_records(ws.engine, recs, RunInfo(database="pubmed", strategy="hcc AND second-line"))
    dup = [
        ParsedRecord(
            source_key="E1",
            title=recs[0].title,
            authors=recs[0].authors,
            year=recs[0].year,
            journal="J Hepatol",
            doi=recs[0].doi,
            raw="embase copy",
        )
    ]
    import_records(ws.engine, dup, RunInfo(database="embase"))
    run_dedup(ws.engine)
    ids = ids_by_key(ws, recs)
    eng = ws.engine
    sync_assignments(engine=eng, protocol=p, stage="ta")
    pair = screeners(ws)
    for rid in ids[1:7]:
        first, second = pair[rid]
        record_decision(engine=eng, protocol=p, record_id=rid, stage="ta", reviewer=first,
                        decision="include")  # fmt: skip
        record_decision(engine=eng, protocol=p, record_id=rid, stage="ta", reviewer=second,
                        decision="exclude" if rid == ids[2] else "include", note="ok")  # fmt: skip
    undo_decision(engine=eng, protocol=p, record_id=ids[3], stage="ta", reviewer=pair[ids[3]][1])
    third = next(n for n, _ in TEAM if n not in pair[ids[2]])
    resolve(engine=eng, protocol=p, record_id=ids[2], stage="ta", reviewer=third,
            decision="include", reason="population fits")  # fmt: skip
    unblind_stage(engine=eng, protocol=p, stage="ta", reviewer="ana", reason="calibration")
    add_reviewer(engine=eng, protocol=p, name="dee")
    add_study(engine=eng, label="REACH-2", registry_id="NCT02435433", actor="ana")
    return p


# --- child processes (spawned; they re-open the workspace as another machine would) -----------


def open_child(root: str, url: str | None) -> Workspace:
    """The workspace as a separate process sees it (its own engine and connections)."""
    import os
    from pathlib import Path

    if url:
        os.environ["LSR_DATABASE_URL"] = url
    else:
        os.environ.pop("LSR_DATABASE_URL", None)
    return Workspace(Path(root))


def decide_worker(
    root: str, url: str | None, reviewer: str, record_ids: list[int], n: int, seed: int
) -> dict[str, object]:
    """Make ``n`` decisions as ``reviewer`` on the records they are assigned, in order.

    Returns every event id the core handed back, and any exception (there should be none:
    a locked database must be waited for or retried inside the core, never reach a user).
    """
    import random
    import time

    from living_review.screening import ScreeningError

    ws = open_child(root, url)
    p = ws.protocol
    rng = random.Random(seed)
    made: list[tuple[int, int, str]] = []
    errors: list[str] = []
    skipped = 0
    t0 = time.perf_counter()
    for rid in record_ids:
        if len(made) >= n:
            break
        decision = rng.choice(("include", "exclude", "exclude", "maybe"))
        try:
            res = record_decision(engine=ws.engine, protocol=p, record_id=rid, stage="ta",
                                  reviewer=reviewer, decision=decision)  # fmt: skip
        except ScreeningError as exc:
            if "is not assigned" in str(exc):
                skipped += 1  # the record's two screeners are two others
                continue
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # any other error reaching the caller is a failure
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        made.append((res.event_id, rid, decision))
    elapsed = time.perf_counter() - t0
    ws.close()
    return {"reviewer": reviewer, "made": made, "errors": errors, "skipped": skipped,
            "elapsed": elapsed}  # fmt: skip


def import_worker(root: str, url: str | None, n: int, tag: str) -> dict[str, object]:
    """Import ``n`` new records (another database) while reviewers screen."""
    ws = open_child(root, url)
    errors: list[str] = []
    try:
        import_records(ws.engine, make_records(n, database="embase", tag=tag),
                       RunInfo(database="embase", file_name=f"{tag}.ris"))  # fmt: skip
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    ws.close()
    return {"errors": errors}


def dedup_worker(root: str, url: str | None, passes: int) -> dict[str, object]:
    """Run the automatic dedup pass a few times while reviewers screen and records arrive."""
    import time

    ws = open_child(root, url)
    errors: list[str] = []
    for _ in range(passes):
        try:
            run_dedup(ws.engine)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.2)
    ws.close()
    return {"errors": errors}


WORKERS = ("r1", "r2", "r3", "r4")


def concurrency_setup(ws: Workspace, per_worker: int) -> tuple[Protocol, list[int]]:
    """A dual-screening review with four screeners and a lead, and enough records for each
    screener to make ``per_worker`` decisions (each record goes to two of the four)."""
    team = [("ana", "lead"), *((w, "reviewer") for w in WORKERS)]
    p = setup_team(ws, team=team)
    recs = make_records(int(per_worker * 2.6) + 20)
    import_records(ws.engine, recs, RunInfo(database="pubmed", file_name="main.xml"))
    from living_review.screening.reviewers import reviewers

    reviewers(ws.engine, p)  # the protocol's people are stored once, before the children start
    return p, ids_by_key(ws, recs)


def run_concurrently(
    ws: Workspace, record_ids: list[int], per_worker: int, *, import_n: int, dedup_passes: int
) -> dict[str, object]:
    """Four screeners (separate spawned processes), an import and a dedup pass at once."""
    import multiprocessing
    import os
    import time
    from concurrent.futures import ProcessPoolExecutor

    url = os.environ.get("LSR_DATABASE_URL")
    root = str(ws.root)
    ws.close()
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=len(WORKERS) + 2, mp_context=ctx) as pool:
        futures = [
            pool.submit(decide_worker, root, url, w, record_ids, per_worker, i)
            for i, w in enumerate(WORKERS)
        ]
        imp = pool.submit(import_worker, root, url, import_n, "conc")
        ded = pool.submit(dedup_worker, root, url, dedup_passes)
        results = [f.result() for f in futures]
        side = [imp.result(), ded.result()]
    wall = time.perf_counter() - t0
    return {"deciders": results, "side": side, "wall": wall}


# --- crash safety ----------------------------------------------------------------------------


def write_csv(path: str, n: int, *, start: int, overlap: int = 0) -> None:
    """A CSV export of ``n`` records; the first ``overlap`` repeat ids of an earlier file."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["record_id", "title", "authors", "year", "journal", "doi"])
        for i in range(n):
            k = start - overlap + i
            w.writerow([f"EMB{k}", f"Crash-safe import trial {k} of agent {k % 97} in HCC "
                        f"cohort {k}", f"Author{k} A; Ørsted B", 2000 + k % 25, "Hepatology",
                        f"10.2000/c{k}"])  # fmt: skip


def crash_child(root: str, url: str | None, path: str) -> None:
    """Import one file then run the dedup pass; the parent kills this process at random."""
    import sys
    from pathlib import Path

    from living_review.importing import import_file

    ws = open_child(root, url)
    ws.engine  # noqa: B018 - migrate/connect before saying ready
    print("ready", flush=True)
    import_file(ws.engine, Path(path), database="embase", actor="crash")
    print("imported", flush=True)
    run_dedup(ws.engine, actor="crash")
    print("done", flush=True)
    sys.stdout.flush()


CHILD = (
    "import sys; sys.path.insert(0, {repo!r}); "
    "from tests.integration.team_data import crash_child; crash_child({root!r}, {url!r}, {path!r})"
)

#: Tables an import or a dedup pass may write; every other table must never change.
IMPORT_TABLES = {"search_run", "record", "record_source", "audit_event"}
DEDUP_TABLES = {"duplicate_link", "dedup_key", "dedup_seen", "audit_event"}


def store_state(ws: Workspace, path: str) -> dict[str, object]:
    """What a crash check compares: digests, the file's run (if any), dedup completeness."""
    from living_review.export import table_digests
    from living_review.importing import file_sha256
    from living_review.store.models import DedupSeen, SearchRun

    with Session(ws.engine) as s:
        run = s.scalars(
            select(SearchRun).where(col(SearchRun.file_sha256) == file_sha256(Path(path)))
        ).all()
        unseen = s.scalar(
            select(func.count()).select_from(Record)
            .where(col(Record.id).not_in(select(col(DedupSeen.record_id))))
        )  # fmt: skip
        runs = [(r.records_in_file, r.new_records, r.linked_records) for r in run]
    return {"digests": table_digests(ws.engine), "runs": runs, "unseen": unseen}


def integrity_ok(ws: Workspace) -> bool:
    """SQLite's own check of the file (PostgreSQL is crash-safe by its WAL; always True)."""
    if ws.engine.dialect.name != "sqlite":
        return True
    with ws.engine.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
        fk = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
    return rows == ["ok"] and not fk


def classify(before: dict[str, Any], after: dict[str, Any], n_file: int) -> str:
    """Name the state after a kill, or "corrupt" if it is not one a transaction boundary allows.

    "before": every table exactly as before. "imported": the run is complete (its counts
    add up, the record and source tables grew by exactly its rows) and nothing outside the
    import's tables changed. "deduped": as "imported", and the pass saw every record.
    """
    b, a = before["digests"], after["digests"]
    if a == b and not after["runs"]:
        return "before"
    if len(after["runs"]) != 1:
        return "corrupt"
    in_file, new, linked = after["runs"][0]
    if in_file != n_file or new + linked != n_file:
        return "corrupt"
    grew = {t: a[t][0] - b[t][0] for t in a}
    if grew["search_run"] != 1 or grew["record"] != new or grew["record_source"] != n_file:
        return "corrupt"
    changed = {t for t in a if a[t] != b[t]}
    if changed - IMPORT_TABLES - DEDUP_TABLES:
        return "corrupt"
    if not (changed & (DEDUP_TABLES - {"audit_event"})):
        return "imported" if grew["audit_event"] == 1 else "corrupt"
    if after["unseen"] != 0 or grew["audit_event"] != 2:
        return "corrupt"
    return "deduped"


def crash_rounds(
    ws: Workspace, workdir: Path, *, rounds: int, n_file: int, seed: int = 1, min_kills: int = 0
) -> dict[str, Any]:
    """Kill an import+dedup child with SIGKILL at random moments, ``rounds`` times.

    After each kill: classify the store, check SQLite's integrity, then re-run the same
    import and dedup in this process and check they complete (the file imported once).
    A kill that lands after the child finished does not count: with ``min_kills``, rounds go
    on (up to three times ``rounds``) until that many kills landed mid-work.
    """
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from living_review.importing import import_file

    rng = random.Random(seed)
    url = os.environ.get("LSR_DATABASE_URL")
    repo = str(Path(__file__).resolve().parents[2])
    outcomes: dict[str, int] = {}
    kills = corrupt = rerun_failures = 0
    budget: float | None = None
    i = -1
    while (i := i + 1) < rounds or (kills < min_kills and i < 3 * rounds):
        path = str(workdir / f"crash-{i}.csv")
        write_csv(path, n_file, start=10_000 * (i + 1), overlap=n_file // 10 if i else 0)
        before = store_state(ws, path)
        code = CHILD.format(repo=repo, root=str(ws.root), url=url, path=path)
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(
                f"crash child failed to start: {child.stderr.read() if child.stderr else ''}"
            )
        t0 = time.perf_counter()
        if budget is None:  # round 0: let it finish, to learn how long import+dedup takes
            while child.stdout.readline().strip() not in ("done", ""):
                pass
            budget = time.perf_counter() - t0
            child.wait()
        else:
            time.sleep(rng.uniform(0, budget * 0.95))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if "done" not in child.stdout.read().split():
                kills += 1  # killed before its work was finished (not in its exit)
        ws.close()
        after = store_state(ws, path)
        state = classify(before, after, n_file)
        if not integrity_ok(ws):
            state = "corrupt"
        outcomes[state] = outcomes.get(state, 0) + 1
        corrupt += state == "corrupt"
        # Re-running completes: the import is done once (or found done), dedup sees all.
        try:
            import_file(ws.engine, Path(path), database="embase", actor="rerun")
            run_dedup(ws.engine, actor="rerun")
            final = store_state(ws, path)
            if len(final["runs"]) != 1 or final["unseen"] != 0 or not integrity_ok(ws):
                rerun_failures += 1
        except Exception:
            rerun_failures += 1
    return {"rounds": i, "kills": kills, "corrupt": corrupt, "outcomes": outcomes,
            "rerun_failures": rerun_failures, "budget_s": budget}  # fmt: skip
