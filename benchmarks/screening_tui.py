"""Benchmark: a reviewer screening in the TUI with 100,000 records in the store (issue 4).

The goal: decision key to next record painted <= 50 ms median and <= 100 ms p95, Pilot-driven.

Builds the store of ``screening_store.py`` (100,000 records, two reviewers, 95% decided), opens
the real Textual app headless (``App.run_test``) on ben's title/abstract queue and presses
``e`` (exclude) N times. For each press: the time from the key to the next record painted
(the screen's ``current`` changed and the app has processed everything the change queued,
including the repaint). Two reading paces:

* ``--think 0.3`` (default): the reviewer looks at each record for 0.3 s before the key (a
  fast human; the screen prefetches the next record while the current one is read);
* back to back (``--think 0``): keys as fast as the app takes them, the worst case, where the
  next record may still be loading behind the previous decision's write.

Run: ``python benchmarks/screening_tui.py [--records 100000] [--presses 100] [--think 0.3]``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screening_store import build  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from living_review.workspace import Workspace  # noqa: E402
from living_review_tui.app import LivingReviewApp  # noqa: E402
from living_review_tui.screens.screening import ScreeningScreen  # noqa: E402

SIZE = (140, 45)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def until(pilot: Pilot[None], check: object, timeout: float = 30) -> None:
    t0 = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the screen did not update in time")
        await pilot.pause(0.001)


class Clock:
    """When the screen took the key (its action ran) and when it showed the next record."""

    def __init__(self, screen: ScreeningScreen) -> None:
        self.key: float | None = None
        self.shown: float | None = None
        self.painted: float | None = None
        decide, show = screen.action_decide, screen._show

        def timed_decide(decision: str) -> None:
            self.key = time.perf_counter()
            decide(decision)

        def timed_show(view: object) -> None:
            self.painted = None
            show(view)  # type: ignore[arg-type]
            self.shown = time.perf_counter()
            screen.call_after_refresh(self._painted)

        screen.action_decide = timed_decide  # type: ignore[method-assign]
        screen._show = timed_show  # type: ignore[method-assign]

    def _painted(self) -> None:
        self.painted = time.perf_counter()


async def presses(
    pilot: Pilot[None], screen: ScreeningScreen, clock: Clock, n: int, think: float
) -> tuple[list[float], list[float]]:
    """Milliseconds from each key to the next record painted: inside the app (the screen's
    action to the first refresh after the record changed: the figure the goal is about), and
    as the test driver sees it (Pilot's key delivery and its wait for an idle app included:
    background counts and re-ranks keep the app busy after the paint)."""
    outer, inner = [], []
    idle: list[float] = []
    for _ in range(n):
        if think:
            await asyncio.sleep(think)
        before = screen.current
        assert before is not None
        t0 = time.perf_counter()
        await pilot.press("e")
        await until(
            pilot, lambda b=before: screen.current is not None and screen.current.id != b.id
        )
        await until(pilot, lambda: clock.painted is not None)
        t1 = time.perf_counter()
        await pilot.pause()  # Pilot waits until the app has nothing left to do
        outer.append(1000 * (time.perf_counter() - t0))
        assert clock.key is not None and clock.painted is not None
        inner.append(1000 * (clock.painted - clock.key))
        idle.append(1000 * (time.perf_counter() - t1))
    if n > 1:
        print(f"  (Pilot's wait for an idle app after the paint: median "
              f"{statistics.median(idle):.0f} ms)")  # fmt: skip
    return outer, inner


async def scenario(ws: Workspace, n: int, think: float) -> dict[str, list[float]]:
    app = LivingReviewApp(ws, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        await until(pilot, lambda: screen.current is not None, 120)
        await asyncio.sleep(1.0)  # the first prefetch and counts are in
        clock = Clock(screen)
        paced, paced_in = await presses(pilot, screen, clock, n, think)
        back, back_in = await presses(pilot, screen, clock, n, 0.0)
    return {"paced": paced, "paced_in_app": paced_in, "back": back, "back_in_app": back_in}


def show(label: str, xs: list[float]) -> None:
    print(f"{label}: median {statistics.median(xs):.1f} ms, p95 {pct(xs, 0.95):.1f} ms, "
          f"max {max(xs):.1f} ms ({len(xs)} presses)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--presses", type=int, default=100)
    ap.add_argument("--think", type=float, default=0.3, help="seconds on each record")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = build(Path(tmp), args.records)
        out = asyncio.run(scenario(ws, args.presses, args.think))
        show(f"key -> next record painted, {args.think:.1f} s on each record", out["paced_in_app"])
        show("  as the test driver sees it (Pilot: key delivery + idle wait)", out["paced"])
        show("key -> next record painted, back to back (worst case)", out["back_in_app"])
        show("  as the test driver sees it (Pilot: key delivery + idle wait)", out["back"])
        print("goal: median <= 50 ms, p95 <= 100 ms; load average at the end:", os.getloadavg())


if __name__ == "__main__":
    main()
