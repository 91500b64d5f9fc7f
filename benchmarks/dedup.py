"""Dedup benchmark: our engine vs bib-dedupe on the labelled sets, and a 100,000-record scale-up.

Prints two tables (not a timed test). For every CSV in the benchmark folder (schema in its
README; ``duplicate_group`` is the truth), for our engine and, in the same run on the same
files, for bib-dedupe (PyPI ``bib-dedupe``, in its own virtual environment, ``cpu=1``):

1. **Automatic merges** -- what the goal is measured on. Pairwise precision and recall of the
   clusters each tool merges *without a reviewer*, false pairs (pairs merged that the truth
   keeps apart), removable duplicates found vs true, seconds and peak memory.
2. **Review queue** -- pairs each tool leaves for a person (our ``possible`` outcome,
   bib-dedupe's ``maybe``): the queue size, the pairwise recall and false pairs *if every
   queued pair were accepted* (automatic merges plus the queue, joined transitively: an upper
   bound, not what is merged), and the true pairs our hard-negative rules veto (erratum vs
   article, letter vs reply, conference abstract vs article, different reports of one study):
   where the truth and our rules disagree about what a duplicate is.

Each tool runs in its own child process, so "peak MB" is that process's maximum resident
set size (interpreter and pandas included) and "seconds" is the wall time of the
deduplication call alone (loading the CSV and importing the library excluded), for both.

Usage::

    python benchmarks/dedup.py                      # all sets, bib-dedupe side by side, 100k
    python benchmarks/dedup.py --skip-bibdedupe     # ours only
    python benchmarks/dedup.py --scale 0            # no synthetic scale-up
    python benchmarks/dedup.py --bibdedupe-venv /tmp/bibdedupe   # where bib-dedupe lives

The bib-dedupe environment is created on first use (``python3 -m venv DIR`` then ``DIR/bin/pip
install bib-dedupe``) unless it already exists.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "dedup"
DEFAULT_VENV = Path(os.environ.get("LSR_BIBDEDUPE_VENV", "/tmp/bibdedupe"))

# --- workers (run in child processes) --------------------------------------------------------

_BIBDEDUPE_WORKER = r"""
import json, sys, time, resource
import pandas as pd
import bib_dedupe.bib_dedupe as bd
df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
records = pd.DataFrame({
    "ID": df["record_id"], "ENTRYTYPE": "article", "title": df["title"],
    "author": df["authors"], "year": df["year"], "journal": df["journal"],
    "volume": df["volume"], "number": df["issue"], "pages": df["pages"],
    "doi": df["doi"], "abstract": df["abstract"],
})
t = time.perf_counter()
prep = bd.prep(records, verbosity_level=0, cpu=1)
pairs = bd.block(prep, verbosity_level=0, cpu=1)
matched = bd.match(pairs, verbosity_level=0, cpu=1)
clusters = bd.cluster(matched, verbosity_level=0)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
maybe = matched[matched["duplicate_label"] == "maybe"]
print(json.dumps({
    "clusters": [list(c) for c in clusters], "seconds": seconds, "peak_mb": peak,
    "possible": [[str(a), str(b)] for a, b in zip(maybe["ID_1"], maybe["ID_2"])],
    "vetoed": [],
}))
"""


def _worker_ours(path: str) -> None:
    import pandas as pd  # type: ignore[import-untyped]

    from living_review.dedup import deduplicate

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = df.rename(columns={"record_id": "id"}).to_dict("records")
    t = time.perf_counter()
    res = deduplicate(rows)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "clusters": res.clusters,
        "seconds": seconds,
        "peak_mb": peak,
        "possible": [[s.a, s.b] for s in res.possible],
        "vetoed": [[s.a, s.b, s.reason] for s in res.pairs if s.method == "rule"],
    }
    print(json.dumps(out))


def _worker_scale(n: str, seed: str) -> None:
    from living_review.dedup import deduplicate

    rows = synthetic_records(int(n), seed=int(seed))
    t = time.perf_counter()
    res = deduplicate(rows)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    truth = {r["id"]: r["duplicate_group"] for r in rows}
    print(
        json.dumps(
            {
                "clusters": res.clusters,
                "truth": truth,
                "seconds": seconds,
                "peak_mb": peak,
                "possible": [[s.a, s.b] for s in res.possible],
                "vetoed": [],
            }
        )
    )


# --- synthetic data --------------------------------------------------------------------------

_WORDS = [
    "effect",
    "efficacy",
    "safety",
    "randomized",
    "controlled",
    "trial",
    "patients",
    "treatment",
    "therapy",
    "outcomes",
    "cohort",
    "analysis",
    "risk",
    "factors",
    "association",
    "mortality",
    "survival",
    "cancer",
    "diabetes",
    "insulin",
    "cardiovascular",
    "renal",
    "hepatic",
    "chronic",
    "acute",
    "disease",
    "inhibitor",
    "receptor",
    "agonist",
    "antagonist",
    "dose",
    "response",
    "biomarker",
    "expression",
    "pathway",
    "inflammation",
    "oxidative",
    "stress",
    "vascular",
    "endothelial",
    "function",
    "blood",
    "pressure",
    "glucose",
    "lipid",
    "obesity",
    "children",
    "adults",
    "elderly",
    "women",
    "men",
    "screening",
    "diagnosis",
    "accuracy",
    "imaging",
    "magnetic",
    "resonance",
    "tomography",
    "ultrasound",
    "prognosis",
    "recurrence",
    "progression",
    "metastatic",
    "advanced",
    "early",
    "stage",
    "systematic",
    "review",
    "meta",
    "network",
    "comparison",
    "versus",
    "placebo",
    "standard",
    "care",
    "surgery",
    "radiotherapy",
    "chemotherapy",
    "immunotherapy",
    "vaccine",
    "infection",
    "viral",
    "bacterial",
    "resistance",
    "antibiotic",
    "prevention",
    "quality",
    "life",
    "pain",
    "depression",
    "anxiety",
    "cognitive",
    "decline",
    "dementia",
    "stroke",
    "heart",
    "failure",
    "atrial",
    "fibrillation",
    "hypertension",
    "kidney",
    "transplantation",
    "liver",
    "cirrhosis",
    "hepatocellular",
    "carcinoma",
    "sorafenib",
    "lenvatinib",
    "regorafenib",
    "cabozantinib",
    "ramucirumab",
    "nivolumab",
    "pembrolizumab",
    "atezolizumab",
    "bevacizumab",
    "mouse",
    "rat",
    "model",
    "cell",
    "line",
    "protein",
    "gene",
    "mutation",
]
_SURNAMES = [
    "smith",
    "jones",
    "garcia",
    "muller",
    "rossi",
    "dubois",
    "kim",
    "wang",
    "li",
    "zhang",
    "chen",
    "liu",
    "nguyen",
    "kowalski",
    "novak",
    "silva",
    "santos",
    "costa",
    "fischer",
    "weber",
    "schmidt",
    "martin",
    "bernard",
    "petit",
    "moreau",
    "lopez",
    "gonzalez",
    "hernandez",
    "tanaka",
    "suzuki",
    "takahashi",
    "sato",
    "yamamoto",
    "park",
    "lee",
    "choi",
    "ivanov",
    "petrov",
    "andersen",
    "hansen",
    "nielsen",
    "larsen",
    "berg",
    "johansson",
    "karlsson",
    "virtanen",
    "korhonen",
    "murphy",
    "kelly",
    "obrien",
    "walsh",
    "byrne",
    "ryan",
    "oconnor",
    "brown",
    "taylor",
    "wilson",
    "davies",
    "evans",
    "thomas",
    "roberts",
]
_JOURNALS = [
    ("New England Journal of Medicine", "N Engl J Med"),
    ("Journal of Clinical Oncology", "J Clin Oncol"),
    ("Lancet Oncology", "Lancet Oncol"),
    ("Journal of Hepatology", "J Hepatol"),
    ("Hepatology", "Hepatology"),
    ("Diabetes Care", "Diabetes Care"),
    ("Annals of Internal Medicine", "Ann Intern Med"),
    ("British Journal of Cancer", "Br J Cancer"),
    ("European Journal of Cancer", "Eur J Cancer"),
    ("Journal of the American College of Cardiology", "J Am Coll Cardiol"),
    ("Clinical Cancer Research", "Clin Cancer Res"),
    ("American Journal of Gastroenterology", "Am J Gastroenterol"),
    ("Liver International", "Liver Int"),
    ("PLoS One", "PLoS One"),
    ("BMJ Open", "BMJ Open"),
]


def _variant(rec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Return the record as another database might write it."""
    v = dict(rec)
    if v["doi"] and rng.random() < 0.5:
        v["doi"] = rng.choice(["http://dx.doi.org/", "https://doi.org/", "doi:"]) + v["doi"].upper()
    elif rng.random() < 0.3:
        v["doi"] = ""
    first, last = v["pages"].split("-")
    if rng.random() < 0.5 and len(last) == len(first):
        common = 0
        while common < len(first) - 1 and first[common] == last[common]:
            common += 1
        v["pages"] = f"{first}-{last[common:]}"
    authors = v["authors"].split("; ")
    if rng.random() < 0.5:
        authors = [a.split(" ")[0] + ", " + ". ".join(a.split(" ")[1]) + "." for a in authors]
    v["authors"] = " and ".join(authors) if rng.random() < 0.5 else "; ".join(authors)
    full, abbrev = next(j for j in _JOURNALS if v["journal"] in j)
    v["journal"] = abbrev if v["journal"] == full else full
    title = v["title"]
    choice = rng.random()
    if choice < 0.25:
        title = title.lower()
    elif choice < 0.45:
        title = title.rstrip(".") + "."
    elif choice < 0.55:
        title = f"[{title}]. [French]"
    elif choice < 0.65:
        words = title.split()
        k = rng.randrange(len(words))
        words[k] = f"<i>{words[k]}</i>"
        title = " ".join(words)
    v["title"] = title
    if rng.random() < 0.1 and v["year"]:
        v["year"] = str(int(v["year"]) - 1)  # ahead-of-print year
    return v


def synthetic_records(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Return ``n`` synthetic records, about a quarter of them duplicates, with truth groups."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    work = 0
    while len(rows) < n:
        work += 1
        title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(7, 16))).capitalize()
        full, abbrev = rng.choice(_JOURNALS)
        first = rng.randint(1, 3000)
        authors = [
            f"{rng.choice(_SURNAMES).capitalize()} {rng.choice('ABCDEFGHJKLMNPRST')}"
            f"{rng.choice('ABCDEFGHJKLMNPRST')}"
            for _ in range(rng.randint(1, 8))
        ]
        base = {
            "id": f"s{len(rows) + 1:07d}",
            "title": title,
            "authors": "; ".join(authors),
            "year": str(rng.randint(1990, 2024)),
            "journal": rng.choice([full, abbrev]),
            "volume": str(rng.randint(1, 400)),
            "issue": str(rng.randint(1, 12)),
            "pages": f"{first}-{first + rng.randint(3, 15)}",
            "doi": f"10.{rng.randint(1000, 9999)}/syn.{work}",
            "abstract": "",
            "duplicate_group": f"G{work}",
        }
        rows.append(base)
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            if len(rows) >= n:
                break
            v = _variant(base, rng)
            v["id"] = f"s{len(rows) + 1:07d}"
            rows.append(v)
    return rows


# --- metrics ---------------------------------------------------------------------------------


def _pairs(groups: Iterable[Iterable[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for g in groups:
        out.update(itertools.combinations(sorted(g), 2))
    return out


def metrics(clusters: list[list[str]], truth: dict[str, str]) -> dict[str, Any]:
    """Return pairwise precision/recall, false pairs and removable duplicates found vs true."""
    groups: dict[str, list[str]] = {}
    for rid, g in truth.items():
        groups.setdefault(g, []).append(rid)
    true_pairs = _pairs(groups.values())
    pred_pairs = _pairs(clusters)
    tp = len(true_pairs & pred_pairs)
    removed = sum(len(c) - 1 for c in clusters)
    # A removal is correct when the removed record's cluster-mates are all true duplicates.
    return {
        "precision": tp / len(pred_pairs) if pred_pairs else 1.0,
        "recall": tp / len(true_pairs) if true_pairs else 1.0,
        "false_pairs": len(pred_pairs - true_pairs),
        "removed": removed,
        "removable": len(truth) - len(groups),
    }


def _closure(n_groups: Iterable[Iterable[str]], extra: Iterable[Iterable[str]]) -> list[list[str]]:
    """Return the groups joined transitively with the extra pairs (a small union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g in itertools.chain(n_groups, extra):
        items = list(g)
        for y in items[1:]:
            rx, ry = find(items[0]), find(y)
            if rx != ry:
                parent[ry] = rx
    out: dict[str, list[str]] = {}
    for x in list(parent):
        out.setdefault(find(x), []).append(x)
    return list(out.values())


def queue_metrics(result: dict[str, Any], truth: dict[str, str]) -> dict[str, Any]:
    """Return the review-queue figures: its size, and recall/false pairs if it were accepted.

    Also counts the true pairs that a hard-negative rule vetoed (and that were not merged
    anyway through other records), by rule: disagreements between the truth and our rules.
    """
    possible = result["possible"]
    accepted = metrics(_closure(result["clusters"], possible), truth)
    merged = _pairs(result["clusters"])
    vetoes: dict[str, int] = {}
    for a, b, reason in result["vetoed"]:
        if truth.get(a) == truth.get(b) and tuple(sorted((a, b))) not in merged:
            rule = reason.split(":")[0].split(" (")[0]
            vetoes[rule] = vetoes.get(rule, 0) + 1
    return {
        "queue": len(possible),
        "recall": accepted["recall"],
        "false_pairs": accepted["false_pairs"],
        "vetoes": vetoes,
    }


# --- driver ----------------------------------------------------------------------------------


def _run(cmd: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def ensure_bibdedupe(venv: Path) -> Path:
    """Return the venv's python with bib-dedupe installed, creating the venv if needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import bib_dedupe"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "bib-dedupe"], check=True)
    return python


def _fmt(name: str, tool: str, m: dict[str, Any], r: dict[str, Any], ratio: str) -> str:
    return (
        f"| {name} | {tool} | {m['precision']:.3f} | {m['recall']:.3f} | {m['false_pairs']} | "
        f"{m['removed']} / {m['removable']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {ratio} |"
    )


def _fmt_queue(name: str, tool: str, q: dict[str, Any], *, rules: bool) -> str:
    vetoes = ", ".join(f"{k}: {v}" for k, v in sorted(q["vetoes"].items())) or "none"
    return (
        f"| {name} | {tool} | {q['queue']} | {q['recall']:.3f} | {q['false_pairs']} | "
        f"{vetoes if rules else 'n/a'} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of labelled CSVs")
    p.add_argument("--bibdedupe-venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--skip-bibdedupe", action="store_true", help="run our engine only")
    p.add_argument("--scale", type=int, default=100_000, help="synthetic records (0: skip)")
    p.add_argument("--only", nargs="*", help="CSV stems to run (default: all)")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        if kind == "ours":
            _worker_ours(rest[0])
        elif kind == "scale":
            _worker_scale(rest[0], rest[1])
        return 0

    import pandas as pd

    files = sorted(args.data.glob("*.csv"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    bd_python = None if args.skip_bibdedupe else ensure_bibdedupe(args.bibdedupe_venv)
    me = [sys.executable, str(Path(__file__).resolve())]
    print("Automatic merges (no reviewer): the goal is measured here.\n")
    print(
        "| set | tool | precision | recall | false pairs | removed / removable | seconds "
        "| peak MB | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    queue_rows: list[str] = []
    for f in files:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        truth = dict(zip(df["record_id"], df["duplicate_group"], strict=True))
        ours = _run([*me, "--worker", "ours", str(f)])
        m_ours = metrics(ours["clusters"], truth)
        queue_rows.append(
            _fmt_queue(f.stem, "living-review", queue_metrics(ours, truth), rules=True)
        )
        ratio = ""
        if bd_python is not None:
            theirs = _run([str(bd_python), "-c", _BIBDEDUPE_WORKER, str(f)])
            m_theirs = metrics(theirs["clusters"], truth)
            ratio = f"{theirs['seconds'] / max(ours['seconds'], 1e-9):.1f}x"
            queue_rows.append(
                _fmt_queue(f.stem, "bib-dedupe 0.11", queue_metrics(theirs, truth), rules=False)
            )
        print(_fmt(f.stem, "living-review", m_ours, ours, ratio))
        if bd_python is not None:
            print(_fmt(f.stem, "bib-dedupe 0.11", m_theirs, theirs, ""))
        sys.stdout.flush()
    if args.scale:
        res = _run([*me, "--worker", "scale", str(args.scale), "7"])
        m = metrics(res["clusters"], res["truth"])
        print(_fmt(f"synthetic {args.scale:,}", "living-review", m, res, ""))
        queue_rows.append(
            _fmt_queue(
                f"synthetic {args.scale:,}",
                "living-review",
                queue_metrics(res, res["truth"]),
                rules=True,
            )
        )
    print(
        "\nReview queue (ours: 'possible'; bib-dedupe: 'maybe'). 'If accepted' = automatic "
        "merges plus every queued pair, joined transitively: an upper bound, not what is "
        "merged.\n"
    )
    print(
        "| set | tool | queue (pairs) | recall if accepted | false pairs if accepted "
        "| true pairs vetoed by a rule |"
    )
    print("|---|---|---|---|---|---|")
    for row in queue_rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
