"""NMA benchmark: agreement with JAGS, min ESS/s vs JAGS, time to report-ready (cold/warm).

Run on demand (never part of the test run)::

    python benchmarks/nma.py [--draws N] [--repeats R] [dataset_model ...]

"Cold" is the first fit in a fresh process (includes nutpie's numba compilation); "warm"
repeats the fit in the same process (compiled model reused, data swapped in). "Report-ready"
is the wall time of ``fit_bayes``: sampling, diagnostics, DIC, league table and SUCRA.
min ESS/s uses the smallest bulk ESS over d and tau, as the reference README's figures do;
JAGS's figure divides by its total MCMC time (compile, adapt, burn-in, sampling).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "nma-reference"
DATASETS = {
    "smoking": ("smoking_arm.csv", "arm-binary", "smoking_treatments.csv", True),
    "senn2013": ("senn2013_contrast.csv", "contrast", "senn2013_treatments.csv", False),
    "parkinsons_arm": ("parkinsons_arm.csv", "arm-continuous", "parkinsons_treatments.csv", False),
    "parkinsons_contrast": (
        "parkinsons_contrast.csv",
        "contrast",
        "parkinsons_treatments.csv",
        False,
    ),
    # no reference posterior is published for these two (held back): timing columns only
    "thrombolytics": ("thrombolytics_arm.csv", "arm-binary", "thrombolytics_treatments.csv", False),
    "nsclc_egfr_pfs": (
        "nsclc_egfr_pfs_contrast.csv",
        "contrast",
        "nsclc_egfr_pfs_treatments.csv",
        False,
    ),
}


def jags_timings() -> dict[str, float]:
    """JAGS's min ESS/s per ``dataset_model`` from ``results/timings.md`` (this machine)."""
    out = {}
    for line in (SHARED / "results" / "timings.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 11 and cells[1] in ("FE", "RE"):
            out[f"{cells[0]}_{cells[1].lower()}"] = float(cells[8])
    return out


def main() -> None:
    """Print one row per dataset and model."""
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=2500, help="draws per chain (4 chains)")
    ap.add_argument("--repeats", type=int, default=3, help="warm repeats (median reported)")
    ap.add_argument(
        "--parameterisation",
        choices=("auto", "marginal", "non-centred"),
        default="auto",
        help="coordinates (same model): 'marginal' = d and mu plain, the pre-conditional ones",
    )
    ap.add_argument(
        "--sampler",
        choices=("auto", "exact", "nutpie", "pymc"),
        default="auto",
        help="'auto' = exact draws for all-normal networks, nutpie NUTS otherwise",
    )
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()

    from living_review.nma.bayes import fit_bayes
    from living_review.nma.data import read_network
    from living_review.nma.frequentist import fit_frequentist
    from living_review.nma.spec import FitSpec

    head = (
        f"{'fit':24} {'max|dmean|':>10} {'max|dq|':>8} {'dSUCRA':>7} {'dDIC':>6} "
        f"{'cold s':>7} {'warm s':>7} {'minESS':>7} {'ESS/s':>8} {'ESS/s*':>8} "
        f"{'JAGS ESS/s':>10} {'ratio':>6}"
    )
    print(head)
    jags_ess = jags_timings()
    for name, (f, fmt, tf, hib) in DATASETS.items():
        for model in ("fe", "re"):
            key = f"{name}_{model}"
            if args.only and key not in args.only:
                continue
            data = SHARED / "data"
            net = read_network(data / f, fmt, treatments=data / tf)  # type: ignore[arg-type]
            ref_path = SHARED / "results" / f"{name}_jags_{model}.json"
            ref = json.loads(ref_path.read_text()) if ref_path.exists() else None
            if args.sampler in ("exact",) and fmt == "arm-binary":
                continue
            spec = FitSpec(
                model=model,  # type: ignore[arg-type]
                draws=args.draws,
                higher_is_better=hib,
                parameterisation=args.parameterisation,
                sampler=args.sampler,  # type: ignore[arg-type]
            )
            t0 = time.perf_counter()
            res = fit_bayes(net, spec)
            cold = time.perf_counter() - t0
            warm = []
            for r in range(args.repeats):
                t0 = time.perf_counter()
                res = fit_bayes(net, FitSpec(**{**spec.__dict__, "seed": spec.seed + 100 + r}))
                warm.append(time.perf_counter() - t0)
            agree = "       -        -       -      -"
            if ref is not None:
                rows = [(b, res.relative_effects[b["treatment"]]) for b in ref["basic_parameters"]]
                if res.tau is not None:
                    rows.append((ref["heterogeneity"], res.tau))
                dmean = max(abs(s.mean - b["mean"]) for b, s in rows)
                dq = max(max(abs(s.q2_5 - b["q2.5"]), abs(s.q97_5 - b["q97.5"])) for b, s in rows)  # type: ignore[operator]
                dsucra = max(
                    abs(res.sucra[r["treatment"]] - r["sucra"])
                    for r in ref["ranking"]["treatments"]
                )
                assert res.model_fit is not None
                ddic = res.model_fit["DIC"] - ref["model_fit"]["DIC"]
                agree = f"{dmean:10.4f} {dq:8.4f} {dsucra:7.4f} {ddic:+6.2f}"
            d = res.diagnostics
            jags = jags_ess[key]
            t = res.timing_seconds
            ess_s = d["min_ess_bulk"] / t["sampling"]
            ess_total = d["min_ess_bulk"] / (t["total"])
            conv = f"  {d['sampler']}" + ("" if res.converged else "  NOT CONVERGED")
            print(
                f"{key:24} {agree} {cold:7.2f} "
                f"{statistics.median(warm):7.2f} {d['min_ess_bulk']:7.0f} {ess_s:8.0f} "
                f"{ess_total:8.0f} {jags:10.0f} {ess_s / jags:6.1f}{conv}",
                flush=True,
            )
    print("ESS/s = min bulk ESS / sampling s; ESS/s* = / report-ready s (warm, incl. post).")
    print(f"parameterisation: {args.parameterisation}; sampler: {args.sampler}")
    # the frequentist estimate on a synthetic 50-study network
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.integration.test_nma_frequentist import synthetic_network

    net50 = synthetic_network()
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        fit_frequentist(net50, model="re")
        times.append(time.perf_counter() - t0)
    ms = 1000 * statistics.median(times)
    print(f"frequentist RE (REML), 50 studies / 10 treatments: median {ms:.1f} ms")


if __name__ == "__main__":
    main()
