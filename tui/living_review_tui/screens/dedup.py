"""Provides the duplicates stage: the review queue of possible pairs, and merged records to split.

``DedupScreen`` is the TUI face of ``lsr dedup review``: it shows the core's queue
(:func:`~living_review.dedup.service.possible_pairs`) one pair at a time, the two records side
by side as :func:`~living_review.dedup.service.pair_view` returns them (differing words
marked by the core's ``word_diff``), and records the reviewer's verdict with
:func:`~living_review.dedup.service.decide`. ``MergedScreen`` lists the core's clusters and
reverses a merge with :func:`~living_review.dedup.service.split`, showing every stored decision
(:func:`~living_review.dedup.service.link_history`) so who or what merged, and why, is visible.

What counts as a duplicate, which pairs are queued and in what order, and what a verdict or a
split writes are all the core's: these screens only gather the reviewer's keys and a reason,
run the core's calls in thread workers and show what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState

from living_review.dedup.service import (
    Cluster,
    FieldDiff,
    PossiblePair,
    decide,
    link_history,
    list_clusters,
    pair_view,
    possible_pairs,
    split,
)
from living_review_tui.screens.base import ReviewScreen

Verdict = Literal["same", "different"]
PairKey = tuple[int, int]
History = list[dict[str, Any]]

#: Style of the words the core marks as differing: reverse video reads as a highlight in every
#: theme, light or dark, and does not rely on colour alone.
DIFF_STYLE = "bold reverse"

#: The reason stored when the reviewer gives none: the CLI's review loop stores the same words,
#: so a decision says how it was reached whichever front end recorded it.
DEFAULT_REASON = "reviewed side by side"

#: How many pairs after the current one have their side-by-side view fetched ahead, so the next
#: pair appears at once after a decision instead of after a round trip to the store.
PREFETCH = 2

#: Labels of the fields ``pair_view`` returns, in its order; a field the core adds later still
#: shows, under its own name.
FIELD_LABELS: dict[str, str] = {
    "database": "Database",
    "source_key": "Accession",
    "found_by": "Found by",
    "title": "Title",
    "authors": "Authors",
    "year": "Year",
    "journal": "Journal",
    "volume": "Volume",
    "issue": "Issue",
    "pages": "Pages",
    "doi": "DOI",
    "pmid": "PMID",
    "publication_types": "Publication types",
    "flags": "Flags",
    "abstract": "Abstract",
}

#: Footer groups: the queue's keys take less room, so the section keys stay visible.
VERDICT = Binding.Group("Same / not")
MOVE = Binding.Group("Skip / back")

NO_REVIEWER = (
    "Read-only: decisions are stored under a reviewer's name. Quit (q) and run: "
    "lsr tui --reviewer NAME"
)


def pair_key(pair: PossiblePair) -> PairKey:
    """The pair's identity in the queue (the core orders the two ids)."""
    return (pair.record_a, pair.record_b)


def field_label(name: str) -> str:
    """The label of one of ``pair_view``'s fields."""
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def segments_text(segments: Sequence[tuple[str, bool]]) -> Text:
    """One side of a field as Rich text, with the words the core marked as differing highlighted.

    An empty side (the field is missing from that record) is shown as a dim dash, so "missing"
    is not mistaken for "same".
    """
    if not segments:
        return Text("—", style="dim")
    text = Text()
    for n, (chunk, differs) in enumerate(segments):
        if n:
            text.append(" ")
        text.append(chunk, style=DIFF_STYLE if differs else "")
    return text


def heading_text(pair: PossiblePair, position: int, total: int) -> Text:
    """Where the reviewer is in the queue, and the score and reason the engine gave."""
    return Text.assemble(
        (f"Pair {position} of {total}", "bold"),
        f"  ·  score {pair.score:.3f}  ·  ",
        (pair.reason or "the engine gave no reason", "italic"),
    )


def history_text(rows: History) -> Text:
    """Stored decisions on one pair, oldest first: when, what, how, who and why."""
    lines = []
    for row in rows:
        score = f" score {row['score']:.2f}" if row.get("score") is not None else ""
        lines.append(
            Text.assemble(
                (row["at"][:16].replace("T", " "), "dim"),
                "  ",
                (f"{row['decision']:<9}", "bold"),
                f" {row['method']} by {row['actor'] or '(unknown)'}{score}",
                (f"  — {row['reason']}" if row.get("reason") else "", "italic"),
            )
        )
    return Text("\n").join(lines)


def pair_histories_text(record_id: int, histories: list[tuple[int, History]]) -> Text:
    """Every stored decision between ``record_id`` and its cluster partners, pair by pair."""
    shown = [(partner, rows) for partner, rows in histories if rows]
    if not shown:
        return Text(
            f"Record {record_id} has no duplicate decisions: its search runs found it under "
            "one accession and the import joined them.",
            style="dim",
        )
    return Text("\n").join(
        Text.assemble((f"Records {record_id} and {partner}\n", "bold"), history_text(rows))
        for partner, rows in shown
    )


@dataclass(frozen=True)
class DecisionDone:
    """What the decide worker returns: the verdict the core stored, and how many links."""

    pair: PossiblePair
    verdict: Verdict
    reason: str
    links: int


@dataclass(frozen=True)
class SplitDone:
    """What the split worker returns: links reversed, and the pairs' history afterwards."""

    record_id: int
    links: int
    histories: list[tuple[int, History]]


@dataclass(frozen=True)
class HistoryLoaded:
    """What the history worker returns for the record under the cursor."""

    record_id: int
    histories: list[tuple[int, History]]


class FieldRow(Horizontal):
    """One field of the pair: its label, record A's value and record B's value."""

    def __init__(self, name: str) -> None:
        super().__init__(id=f"row-{name}", classes="field-row")
        self.field_name = name
        """The ``FieldDiff.name`` this row shows."""

    def compose(self) -> ComposeResult:
        """A label column and two value columns."""
        yield Static(field_label(self.field_name), id=f"label-{self.field_name}", classes="label")
        yield Static(id=f"a-{self.field_name}", classes="value")
        yield Static(id=f"b-{self.field_name}", classes="value")

    def show(self, diff: FieldDiff) -> None:
        """Fill the row from the core's diff; a differing field is marked in its label too."""
        self.set_class(not diff.same, "-differs")
        label = field_label(self.field_name)
        self.query_one(".label", Static).update(
            Text(f"≠ {label}", style="bold") if not diff.same else Text(f"  {label}")
        )
        self.query_one(f"#a-{self.field_name}", Static).update(segments_text(diff.segments_a))
        self.query_one(f"#b-{self.field_name}", Static).update(segments_text(diff.segments_b))


class DedupScreen(ReviewScreen):
    """The review queue: one possible pair at a time, decided with a key.

    The queue is circular: skipping the last pair comes back to the first one still pending.
    A decision removes the pair at once and shows the next while the core records it in a
    worker; the queue is then reloaded from the core, since one verdict can settle other pairs
    (two records already joined through a third need no review).
    """

    SECTION = "Duplicates"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "decide('same')", "Same", id="dedup-same", group=VERDICT,
                tooltip="Same report: merge the two records (a split reverses it)"),
        Binding("n", "decide('different')", "Not same", id="dedup-different", group=VERDICT,
                tooltip="Different reports: keep them apart (later passes respect it)"),
        Binding("k,space", "skip", "Skip", id="dedup-skip", group=MOVE,
                tooltip="Leave this pair in the queue and show the next one"),
        Binding("b", "back", "Back", id="dedup-back", group=MOVE,
                tooltip="Show the previous pair again"),
        Binding("w", "reason", "Why", id="dedup-reason",
                tooltip="Type the reason stored with the next decision (Enter keeps it)"),
        Binding("m", "merged", "Merged", id="dedup-merged",
                tooltip="List merged records, their decision history, and split a merge"),
        Binding("ctrl+r", "reload", "Refresh", id="dedup-refresh",
                tooltip="Reload the queue of possible pairs from the store"),
        Binding("escape", "leave_field", "Leave field", id="dedup-leave-field", show=False,
                tooltip="Stop typing the reason, so the single-letter keys work again"),
    ]  # fmt: skip

    _stale = False
    """Set when the store changed while another mode was on screen; reload on return."""

    def __init__(self) -> None:
        super().__init__()
        self._pairs: list[PossiblePair] = []
        self._index = 0
        self._views: dict[PairKey, list[FieldDiff]] = {}
        self._shown: PairKey | None = None
        self._in_flight: set[PairKey] = set()
        """Pairs decided here whose decision the core has not yet confirmed."""
        self._decisions: dict[Worker[Any], PossiblePair] = {}
        self._queue_worker: Worker[Any] | None = None
        self._loaded = False

    def compose(self) -> ComposeResult:
        """Lay out the notice, the queue position, the pair side by side and the reason field."""
        yield Header()
        with Vertical(id="dedup"):
            yield Static(NO_REVIEWER, id="dedup-notice", markup=False)
            yield Static(id="pair-heading")
            with VerticalScroll(id="pair") as pair:
                pair.border_title = "Possible duplicate"
                with Horizontal(id="pair-records", classes="field-row"):
                    yield Static("", classes="label")
                    yield Static(id="record-a", classes="value record")
                    yield Static(id="record-b", classes="value record")
                for name in FIELD_LABELS:
                    yield FieldRow(name)
            yield Static(
                "No possible duplicates to review. Press m to see merged records.",
                id="no-pairs",
                classes="hint",
            )
            with Horizontal(id="reason-bar"):
                yield Label("Reason", id="reason-label")
                yield Input(
                    placeholder=f"w to type; stored with the next verdict, else {DEFAULT_REASON!r}",
                    id="reason",
                )
            yield Static(id="last-decision", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        """Show the notice if nobody is named, subscribe to store changes, load the queue."""
        self.query_one("#dedup-notice").display = not self.review_app.reviewer
        self.query_one("#no-pairs").display = False
        self.query_one("#pair").loading = True
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.load_queue()

    # --- the queue ---------------------------------------------------------------------------

    def _store_changed(self, _reason: str) -> None:
        """Reload now if visible, else on the next visit (no work for a hidden screen)."""
        if self.is_current:
            self.load_queue()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        """Catch up with changes made elsewhere (an import, a split on the merged list)."""
        if self._stale:
            self._stale = False
            self.load_queue()

    def action_reload(self) -> None:
        """Reload the queue on request."""
        self.load_queue()

    def load_queue(self) -> None:
        """Start loading the queue; only the newest load's answer is used."""
        self._queue_worker = self._fetch_queue()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dedup-queue",
          description="Loading the pairs to review")  # fmt: skip
    def _fetch_queue(self) -> list[PossiblePair]:
        """Ask the core for the pending pairs (a query over every link: run it off the UI)."""
        return possible_pairs(self.review_app.open_store().engine)

    def _set_queue(self, pairs: list[PossiblePair]) -> None:
        """Take a fresh queue from the core, staying on the pair on view if it is still pending.

        Pairs decided here but not yet confirmed are left out, so they do not flash back.
        """
        current = self._current_key()
        self._pairs = [p for p in pairs if pair_key(p) not in self._in_flight]
        keys = [pair_key(p) for p in self._pairs]
        self._views = {k: v for k, v in self._views.items() if k in keys}
        if current in keys:
            self._index = keys.index(current)
        else:
            self._index = max(0, min(self._index, len(keys) - 1))
        self._loaded = True
        self._show_current()

    def _current(self) -> PossiblePair | None:
        return self._pairs[self._index] if self._pairs else None

    def _current_key(self) -> PairKey | None:
        pair = self._current()
        return pair_key(pair) if pair else None

    # --- showing a pair ----------------------------------------------------------------------

    def _show_current(self) -> None:
        """Show the pair at the cursor (from the prefetched views if there) and fetch ahead."""
        pair_box = self.query_one("#pair")
        pair = self._current()
        self.query_one("#no-pairs").display = pair is None
        pair_box.display = pair is not None
        if pair is None:
            self._shown = None
            pair_box.loading = False
            self.query_one("#pair-heading", Static).update(
                Text("No pairs to review.", style="bold") if self._loaded else ""
            )
            return
        self.query_one("#pair-heading", Static).update(
            heading_text(pair, self._index + 1, len(self._pairs))
        )
        view = self._views.get(pair_key(pair))
        if view is not None:
            self._render_pair(pair, view)
        else:
            pair_box.loading = True
        ahead = [
            pair_key(self._pairs[(self._index + n) % len(self._pairs)]) for n in range(PREFETCH + 1)
        ]
        missing = [k for k in dict.fromkeys(ahead) if k not in self._views]
        if missing:
            self._fetch_views(missing)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dedup-views",
          description="Loading the pair side by side")  # fmt: skip
    def _fetch_views(self, keys: list[PairKey]) -> dict[PairKey, list[FieldDiff]]:
        """Ask the core for the side-by-side views of the pair on view and the next ones."""
        engine = self.review_app.open_store().engine
        return {key: pair_view(engine, *key) for key in keys}

    def _render_pair(self, pair: PossiblePair, view: list[FieldDiff]) -> None:
        """Fill the field rows from the core's view; fields both records lack are hidden."""
        pair_box = self.query_one("#pair", VerticalScroll)
        pair_box.loading = False
        if self._shown == pair_key(pair):
            return
        self._shown = pair_key(pair)
        self.query_one("#record-a", Static).update(
            Text.assemble(("A", "bold"), f" · record {pair.record_a}")
        )
        self.query_one("#record-b", Static).update(
            Text.assemble(("B", "bold"), f" · record {pair.record_b}")
        )
        rows = {row.field_name: row for row in self.query(FieldRow)}
        present = {diff.name for diff in view}
        for diff in view:
            row = rows.get(diff.name)
            if row is None:  # a field this screen does not know yet: show it at the end
                row = rows[diff.name] = FieldRow(diff.name)
                pair_box.mount(row)
                row.call_after_refresh(row.show, diff)
            else:
                row.show(diff)
        for name, row in rows.items():
            row.display = name in present
        pair_box.scroll_home(animate=False)

    # --- the reviewer's keys -----------------------------------------------------------------

    def action_skip(self) -> None:
        """Leave the pair pending and move on (after the last pair, back to the first)."""
        if self._pairs:
            self._index = (self._index + 1) % len(self._pairs)
            self._show_current()

    def action_back(self) -> None:
        """Go back one pair (a skip pressed too soon)."""
        if self._pairs:
            self._index = (self._index - 1) % len(self._pairs)
            self._show_current()

    def action_reason(self) -> None:
        """Put the cursor in the reason field."""
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def action_leave_field(self) -> None:
        """Keep the reason typed so far and give the single-letter keys back."""
        self.set_focus(None)

    def action_merged(self) -> None:
        """Open the list of merged records (Esc there comes back to the queue)."""
        self.app.push_screen(MergedScreen())

    def action_decide(self, verdict: Verdict) -> None:
        """Record the reviewer's verdict on the pair on view and show the next pair at once.

        Without a reviewer nothing is stored: the core records who decided, and an unnamed
        decision could not be traced or reviewed.
        """
        reviewer = self.review_app.reviewer
        if not reviewer:
            self.notify(NO_REVIEWER, title="Who is deciding?", severity="warning", markup=False)
            return
        pair = self._current()
        if pair is None:
            self.notify("There is no pair to decide.", severity="warning")
            return
        reason_input = self.query_one("#reason", Input)
        reason = reason_input.value.strip() or DEFAULT_REASON
        reason_input.value = ""
        self._in_flight.add(pair_key(pair))
        del self._pairs[self._index]
        if self._index >= len(self._pairs):
            self._index = 0
        self._show_current()
        worker = self._record_decision(pair, verdict, reviewer, reason)
        self._decisions[worker] = pair

    @work(thread=True, exit_on_error=False, group="dedup-decide",
          description="Recording the duplicate decision")  # fmt: skip
    def _record_decision(
        self, pair: PossiblePair, verdict: Verdict, reviewer: str, reason: str
    ) -> DecisionDone:
        """Have the core store the verdict (it may also split a cluster: off the UI thread)."""
        links = decide(
            self.review_app.open_store().engine,
            pair.record_a,
            pair.record_b,
            verdict,
            reviewer=reviewer,
            reason=reason,
        )
        return DecisionDone(pair, verdict, reason, links)

    # --- worker outcomes ---------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Use what the workers return; failures are reported by ``ReviewScreen``."""
        worker, state = event.worker, event.state
        if state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if worker.group == "dedup-queue":
            if state is WorkerState.SUCCESS and worker is self._queue_worker:
                if isinstance(pairs := worker.result, list):
                    self._set_queue(pairs)
            elif state is WorkerState.ERROR:
                self.query_one("#pair").loading = False
        elif worker.group == "dedup-views":
            if state is WorkerState.SUCCESS and isinstance(views := worker.result, dict):
                self._views.update(views)
                pair = self._current()
                if pair is not None and pair_key(pair) in views:
                    self._render_pair(pair, self._views[pair_key(pair)])
            elif state is WorkerState.ERROR:
                self.query_one("#pair").loading = False
        elif worker.group == "dedup-decide":
            decided = self._decisions.pop(worker, None)
            if decided is not None:
                self._in_flight.discard(pair_key(decided))
            if state is WorkerState.SUCCESS and isinstance(done := worker.result, DecisionDone):
                self._decision_recorded(done)
            else:  # the pair was not decided: it comes back with the reloaded queue
                self.load_queue()

    def _decision_recorded(self, done: DecisionDone) -> None:
        """Say what was stored, and tell the other screens (the dashboard's counts moved)."""
        pair = done.pair
        verdict = "same (merged)" if done.verdict == "same" else "not the same (kept apart)"
        self.query_one("#last-decision", Static).update(
            Text.assemble(
                "✓ ",
                (f"Records {pair.record_a} and {pair.record_b}: {verdict}", "bold"),
                f" · {done.links} link(s) written · reason: {done.reason}",
            )
        )
        self.review_app.store_changed.publish("dedup")


class MergedScreen(ReviewScreen):
    """Merged records, cluster by cluster, with every decision stored on them; splits merges.

    A split takes the record under the cursor out of its cluster: the core appends a reversing
    link for each of its merges, naming the reviewer and the reason, so the merge and its
    reversal both stay on record and no later automatic pass merges the pair again.
    """

    SECTION = "Duplicates · merged records"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "split", "Split", id="dedup-split",
                tooltip="Take the highlighted record out of its cluster (recorded, reversible)"),
        Binding("w", "reason", "Why", id="dedup-split-reason",
                tooltip="Type the reason stored with the next split (Enter keeps it)"),
        Binding("ctrl+r", "reload", "Refresh", id="dedup-merged-refresh",
                tooltip="Reload the merged records from the store"),
        Binding("escape", "back", "Back", id="dedup-merged-back",
                tooltip="Back to the queue of possible pairs"),
    ]  # fmt: skip

    _stale = False
    """Set when the store changed while another mode was on screen; reload on return."""

    def __init__(self) -> None:
        super().__init__()
        self._clusters: list[Cluster] = []
        self._cluster_of: dict[int, Cluster] = {}
        self._clusters_worker: Worker[Any] | None = None
        self._history_worker: Worker[Any] | None = None

    def compose(self) -> ComposeResult:
        """Lay out the clusters table, the history of the highlighted record and the reason."""
        yield Header()
        with Vertical(id="merged"):
            yield Static(NO_REVIEWER, id="merged-notice", markup=False)
            table: DataTable[str | Text] = DataTable(
                id="clusters", cursor_type="row", zebra_stripes=True
            )
            table.border_title = "Merged records"
            yield table
            yield Static(
                "No merged records: nothing has been joined yet.", id="no-clusters", classes="hint"
            )
            history = Static(id="history", classes="panel")
            history.border_title = "Decisions"
            yield history
            with Horizontal(id="split-reason-bar"):
                yield Label("Reason", id="split-reason-label")
                yield Input(placeholder="w to type; stored with the next split", id="split-reason")
            yield Static(id="split-result")
        yield Footer()

    def on_mount(self) -> None:
        """Add the columns, subscribe to store changes and load the clusters."""
        self.query_one("#merged-notice").display = not self.review_app.reviewer
        self.query_one("#no-clusters").display = False
        table = self.query_one("#clusters", DataTable)
        table.add_columns("Cluster", "Record", "Database", "Accession", "Title", "Runs", "Kept")
        table.loading = True
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.load_clusters()

    def _store_changed(self, _reason: str) -> None:
        """Reload now if visible, else on the next visit."""
        if self.is_current:
            self.load_clusters()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        """Catch up with changes made while another screen was showing."""
        if self._stale:
            self._stale = False
            self.load_clusters()

    def action_reload(self) -> None:
        """Reload the clusters on request."""
        self.load_clusters()

    def action_back(self) -> None:
        """Leave the reason field if typing, else go back to the queue."""
        if isinstance(self.focused, Input):
            self.set_focus(self.query_one("#clusters"))
        else:
            self.app.pop_screen()

    def action_reason(self) -> None:
        """Put the cursor in the reason field."""
        self.query_one("#split-reason", Input).focus()

    @on(Input.Submitted, "#split-reason")
    def _reason_done(self) -> None:
        """Keep the reason and go back to the table, where x splits."""
        self.set_focus(self.query_one("#clusters"))

    def load_clusters(self) -> None:
        """Start loading the clusters; only the newest load's answer is used."""
        self._clusters_worker = self._fetch_clusters()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dedup-clusters",
          description="Loading the merged records")  # fmt: skip
    def _fetch_clusters(self) -> list[Cluster]:
        """Ask the core for the clusters (with each member's search runs)."""
        return list_clusters(self.review_app.open_store().engine)

    def _show_clusters(self, clusters: list[Cluster]) -> None:
        """One row per member record, grouped by cluster; the cursor stays on its record."""
        table = self.query_one("#clusters", DataTable)
        table.loading = False
        current = self._record_under_cursor()
        self._clusters = clusters
        self._cluster_of = {m.record_id: c for c in clusters for m in c.members}
        table.clear()
        for n, cluster in enumerate(clusters, start=1):
            for i, member in enumerate(cluster.members):
                table.add_row(
                    Text(str(n), justify="right") if i == 0 else "",
                    Text(str(member.record_id), justify="right"),
                    member.database,
                    member.source_key,
                    (member.title or "")[:60],
                    ", ".join(str(r) for r in member.runs),
                    "✓" if member.record_id == cluster.kept else "",
                    key=str(member.record_id),
                )
        self.query_one("#no-clusters").display = not clusters
        if current is not None and current in self._cluster_of:
            table.move_cursor(row=table.get_row_index(str(current)))
        if not clusters:
            self.query_one("#history", Static).update("")

    def _record_under_cursor(self) -> int | None:
        table = self.query_one("#clusters", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def _partners(self, record_id: int) -> list[int]:
        cluster = self._cluster_of.get(record_id)
        if cluster is None:
            return []
        return [m.record_id for m in cluster.members if m.record_id != record_id]

    @on(DataTable.RowHighlighted, "#clusters")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the stored decisions of the record under the cursor."""
        if event.row_key.value is None:
            return
        record_id = int(event.row_key.value)
        self.query_one("#history", Static).border_title = f"Decisions on record {record_id}"
        self._history_worker = self._fetch_history(record_id, self._partners(record_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="dedup-history",
          description="Loading the decision history")  # fmt: skip
    def _fetch_history(self, record_id: int, partners: list[int]) -> HistoryLoaded:
        """Ask the core for every decision between the record and each cluster partner."""
        engine = self.review_app.open_store().engine
        return HistoryLoaded(
            record_id, [(other, link_history(engine, record_id, other)) for other in partners]
        )

    def action_split(self) -> None:
        """Split the highlighted record out of its cluster, under the reviewer's name.

        Whether there is a merge to reverse is the core's call: a record only joined at import
        (one accession found by several runs) is refused with the core's own message.
        """
        reviewer = self.review_app.reviewer
        if not reviewer:
            self.notify(NO_REVIEWER, title="Who is splitting?", severity="warning", markup=False)
            return
        record_id = self._record_under_cursor()
        if record_id is None:
            self.notify("There is no merged record to split.", severity="warning")
            return
        reason_input = self.query_one("#split-reason", Input)
        reason = reason_input.value.strip() or None
        reason_input.value = ""
        self._split_record(record_id, self._partners(record_id), reviewer, reason)

    @work(thread=True, exit_on_error=False, group="dedup-split",
          description="Splitting the record from its cluster")  # fmt: skip
    def _split_record(
        self, record_id: int, partners: list[int], reviewer: str, reason: str | None
    ) -> SplitDone:
        """Have the core reverse the record's merges, then read back the pairs' history."""
        engine = self.review_app.open_store().engine
        links = split(engine, record_id, reviewer=reviewer, reason=reason)
        histories = [(other, link_history(engine, record_id, other)) for other in partners]
        return SplitDone(record_id, links, histories)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Use what the workers return; failures are reported by ``ReviewScreen``."""
        worker = event.worker
        if event.state is WorkerState.ERROR and worker.group == "dedup-clusters":
            self.query_one("#clusters").loading = False
        if event.state is not WorkerState.SUCCESS:
            return
        result = worker.result
        if worker is self._clusters_worker and isinstance(result, list):
            self._show_clusters(result)
        elif worker is self._history_worker and isinstance(result, HistoryLoaded):
            self.query_one("#history", Static).update(
                pair_histories_text(result.record_id, result.histories)
            )
        elif isinstance(result, SplitDone):
            self._split_done(result)

    def _split_done(self, done: SplitDone) -> None:
        """Show the reversal and its history, then reload (the record has left its cluster)."""
        self.query_one("#split-result", Static).update(
            Text.assemble(
                ("✓ ", "bold"),
                (f"Record {done.record_id} split from its cluster", "bold"),
                f" · {done.links} link(s) reversed\n",
                pair_histories_text(done.record_id, done.histories),
            )
        )
        self.review_app.store_changed.publish("dedup")
