"""Provides ``KMScreen``: digitised Kaplan-Meier curves per study arm, their reconstruction, RMST.

* the current curves of the outcome (study, arm, points, at-risk rows, arm size, events);
* for the highlighted curve, how well the reconstructed IPD fits it (events vs published,
  medians, curve error before and after the last at-risk time) and its warnings;
* per study ΔRMST at the common τ and the Cox HR, and the pooled ΔRMST (all from
  :mod:`living_review.survival`, computed in a worker);
* a form to attach a figure's digitised points and at-risk CSVs to a study's arms, ``x`` to load
  the synthetic example, ``o`` to write the highlighted study's overlay plot (SVG) next to the
  workspace — a terminal cannot show it, an SVG viewer can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from living_review.errors import LsrError
from living_review_tui.screens.base import ReviewScreen

OUTCOME = "OS"


@dataclass
class KMView:
    """What the screen shows, computed by the core in a worker."""

    curves: list[dict[str, Any]] = field(default_factory=list)
    effects: dict[str, Any] | None = None
    pooled: dict[str, Any] | None = None
    note: str = ""


def load_view(ws: Any, outcome: str) -> KMView:
    """Curves, reconstructions and effects of one outcome (worker thread)."""
    from living_review.survival.pooling import pool_drmst, study_effects
    from living_review.survival.service import list_curves

    view = KMView(curves=list_curves(engine=ws.engine, outcome=outcome))
    if not view.curves:
        view.note = "No curves yet: attach a figure below, or press x for the synthetic example."
        return view
    try:
        eff = study_effects(ws.engine, outcome, protocol=ws.protocol)
    except LsrError as exc:
        view.note = str(exc)
        return view
    view.effects = eff.as_json()
    view.pooled = pool_drmst(eff, ws.protocol)
    return view


def effects_text(view: KMView) -> str:
    """Per-study ΔRMST and HR, and the pooled ΔRMST, as lines."""
    if view.effects is None:
        return view.note
    e = view.effects
    lines = [f"ΔRMST at τ = {e['tau']:.3g} ({e['tau_rule']})"]
    for s in e["studies"]:
        for c in s["contrasts"]:
            hr, pub = s["hr"], s.get("published_hr") or {}
            hr_txt = f"  HR {hr['hr']:.2f} ({hr['lower']:.2f}-{hr['upper']:.2f})" if hr else ""
            if hr and pub.get("hr"):
                hr_txt += f", published {pub['hr']:.2f}"
            lines.append(
                f"{s['study']:<12} {c['treat1']} - {c['treat2']}: {c['drmst']:+.2f} "
                f"({c['lower']:+.2f} to {c['upper']:+.2f}){hr_txt}"
            )
    pooled = view.pooled or {}
    allp = pooled.get("all_active")
    if allp:
        lines.append(
            f"Pooled active - {pooled.get('reference', '')} "
            f"({allp['k']} studies): {allp['estimate']:+.2f} "
            f"({allp['lower']:+.2f} to {allp['upper']:+.2f})"
        )
    return "\n".join(lines)


def detail_text(view: KMView, study: str, treatment: str) -> str:
    """The reconstruction diagnostics of one arm."""
    if view.effects is None:
        return view.note
    for s in view.effects["studies"]:
        if s["study"] != study or treatment not in s["reconstruction"]:
            continue
        r = s["reconstruction"][treatment]
        pub = r["events_published"]
        med_r, med_d = r["median_reconstructed"], r["median_digitised"]
        lines = [
            f"{study} · {treatment}: reconstructed n = {r['n']}, {r['events']} events"
            + (f" (published {pub})" if pub is not None else ""),
            f"median {med_r if med_r is None else f'{med_r:.2f}'} "
            f"(digitised curve {med_d if med_d is None else f'{med_d:.2f}'})",
            f"KM error: mean {r['mean_abs_error']:.4f}, max before the last at-risk time "
            f"{r['max_abs_error_before_last_at_risk']:.3f}, after "
            f"{r['max_abs_error_after_last_at_risk']:.3f}",
            "at risk (published / reconstructed): "
            + ", ".join(
                f"{t:g}: {p}/{q}"
                for t, p, q in zip(
                    r["at_risk_times"],
                    r["at_risk_published"],
                    r["at_risk_reconstructed"],
                    strict=True,
                )
            ),
        ]
        lines += [f"⚠ {w}" for w in r["warnings"]]
        return "\n".join(lines)
    return f"{study} · {treatment}: no reconstruction (needs curves for two arms of the study)"


class KMScreen(ReviewScreen):
    """Survival evidence: digitised KM curves per arm, IPD reconstruction, RMST contrasts."""

    SECTION = "Survival (KM curves)"
    DEFAULT_CSS = """
    KMScreen #km-main { height: 1fr; }
    KMScreen #km-left { width: 3fr; }
    KMScreen #km-right { width: 2fr; border-left: solid $primary-darken-2; padding: 0 1; }
    KMScreen #km-curves { height: 1fr; }
    KMScreen #km-effects { height: auto; max-height: 12; padding: 0 1; }
    KMScreen #km-form { height: auto; }
    KMScreen #km-form Input { width: 1fr; }
    KMScreen #km-status { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "load_example", "Synthetic example", id="km-example"),
        Binding("o", "overlay", "Overlay SVG", id="km-overlay"),
        Binding("ctrl+r", "reload", "Refresh", id="km-reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = KMView()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="km-main"):
            with Vertical(id="km-left"):
                yield DataTable(id="km-curves", cursor_type="row", zebra_stripes=True)
                yield Static("", id="km-effects")
            with VerticalScroll(id="km-right"):
                yield Static("", id="km-detail")
        with Horizontal(id="km-form"):
            yield Input(placeholder="study (e.g. REACH-2)", id="km-study")
            yield Input(placeholder="points CSV", id="km-points")
            yield Input(placeholder="at-risk CSV", id="km-atrisk")
            yield Button("Attach", id="km-attach", variant="primary")
        yield Static("", id="km-status")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#km-curves", DataTable)
        table.add_columns("#", "Study", "Arm", "Outcome", "Points", "At-risk", "n", "Events")
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.reload()

    def _store_changed(self, reason: str) -> None:
        self.reload()

    # --- loading ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="km-load")
    def reload(self) -> KMView:
        """Recompute the view from the store (worker thread)."""
        view = load_view(self.review_app.open_store(), OUTCOME)
        self.app.call_from_thread(self._show, view)
        return view

    def action_reload(self) -> None:
        self.reload()

    def _show(self, view: KMView) -> None:
        self.view = view
        table = self.query_one("#km-curves", DataTable)
        table.clear()
        for c in view.curves:
            table.add_row(
                str(c["id"]), c["study"], c["treatment"], c["outcome"], str(c["points"]),
                str(c["at_risk_rows"]), str(c["n"] or ""), str(c["total_events"] or ""),
                key=f"{c['study']}\x1f{c['treatment']}",
            )  # fmt: skip
        self.query_one("#km-effects", Static).update(effects_text(view))
        self._show_detail()

    def _current(self) -> tuple[str, str] | None:
        table = self.query_one("#km-curves", DataTable)
        if not self.view.curves or table.cursor_row < 0:
            return None
        c = self.view.curves[min(table.cursor_row, len(self.view.curves) - 1)]
        return c["study"], c["treatment"]

    def _show_detail(self) -> None:
        cur = self._current()
        text = detail_text(self.view, *cur) if cur else self.view.note
        self.query_one("#km-detail", Static).update(text)

    @on(DataTable.RowHighlighted, "#km-curves")
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # --- actions ------------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#km-status", Static).update(text)

    def _actor(self) -> str:
        return self.review_app.reviewer or "tui"

    @work(thread=True, exclusive=True, group="km-write")
    def action_load_example(self) -> None:
        """Attach the synthetic example curves (the example studies must exist)."""
        from living_review.survival.service import load_example

        ws = self.review_app.open_store()
        try:
            res = load_example(engine=ws.engine, protocol=ws.protocol)
        except LsrError as exc:
            self.app.call_from_thread(self._status, f"error: {exc}")
            return
        self.app.call_from_thread(
            self._status,
            f"synthetic example: {res['created']} curves attached, {res['unchanged']} unchanged",
        )
        self.app.call_from_thread(self.review_app.store_changed.publish, "km")

    @on(Button.Pressed, "#km-attach")
    def _attach_pressed(self) -> None:
        study = self.query_one("#km-study", Input).value.strip()
        points = self.query_one("#km-points", Input).value.strip()
        at_risk = self.query_one("#km-atrisk", Input).value.strip()
        if not (study and points and at_risk):
            self._status("give the study, the points CSV and the at-risk CSV")
            return
        self.attach(study, Path(points), Path(at_risk))

    @work(thread=True, exclusive=True, group="km-write")
    def attach(self, study: str, points: Path, at_risk: Path) -> None:
        """Attach a figure's curves (all arms or none) in a worker."""
        from living_review.survival.service import attach_files

        ws = self.review_app.open_store()
        try:
            res = attach_files(
                engine=ws.engine, protocol=ws.protocol, study=study, points=points,
                at_risk=at_risk, outcome=OUTCOME, actor=self._actor(),
            )  # fmt: skip
        except LsrError as exc:
            self.app.call_from_thread(self._status, f"error: {exc}")
            return
        done = ", ".join(f"{r.treatment} {'attached' if r.created else 'unchanged'}" for r in res)
        self.app.call_from_thread(self._status, f"{study}: {done}")
        self.app.call_from_thread(self.review_app.store_changed.publish, "km")

    @work(thread=True, exclusive=True, group="km-write")
    def action_overlay(self) -> None:
        """Write the highlighted study's overlay (digitised vs reconstructed) as SVG."""
        from living_review.survival.plots import write_overlay
        from living_review.survival.service import reconstruct_stored

        cur = self.app.call_from_thread(self._current)
        if cur is None:
            self.app.call_from_thread(self._status, "no curve highlighted")
            return
        ws = self.review_app.open_store()
        recs = reconstruct_stored(ws.engine, OUTCOME).get(cur[0], [])
        path = ws.root / f"{cur[0]}_{OUTCOME}_km_overlay.svg"
        write_overlay([r for _, r in recs], path, title=f"{cur[0]} {OUTCOME}")
        self.app.call_from_thread(self._status, f"overlay written to {path}")
