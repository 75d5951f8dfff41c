"""PNG charts for Discord messages: a horizontal bar chart of the top rows (a digest's gainers).

Drawn with matplotlib's object API on the Agg canvas (``Figure`` + ``FigureCanvasAgg``), never
pyplot: pyplot keeps global figure state and picks a GUI backend, neither of which a scheduler
thread or a cron run wants. matplotlib is imported inside :func:`bar_chart` only: importing it
costs a few hundred milliseconds, and a cron ``poll`` with nothing to post must not pay that
(tests/unit/test_chart.py checks that such a poll never loads it). Without matplotlib,
:func:`bar_chart` raises :class:`ChartUnavailable`, whose ``reason`` a caller can show as "text
only, because …".

The colours are Discord's dark theme (the message background is #313338), so the image blends
into the channel; sizes are chosen for an embed image, which Discord shows about 400 px wide:
the PNG is 800 px wide, so text is drawn at twice the size it will be read at.

This module knows nothing of what the rows mean: the caller passes the title, names and unit.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from notifier.numbers import fmt_xp

__all__ = ["MAX_NAME", "ChartUnavailable", "Row", "bar_chart", "chart_label"]

Row = tuple[str, int]

MAX_NAME = 18  # characters of a name drawn before it is ellipsised ("…"): fits the left third
MAX_TITLE = 60

BACKGROUND = "#313338"  # Discord's dark-theme message background
TEXT = "#f2f3f5"
MUTED = "#b5bac1"
BAR = "#5865f2"  # Discord's blurple
TOP_BAR = "#f0b232"  # the leader, in Discord's yellow

WIDTH_PX = 800
DPI = 100
ROW_PX = 34  # per bar: 17 px high at the embed's display size, above Discord's 14 px body text
CHROME_PX = 90  # title and margins
FONT_PT = 15


class ChartUnavailable(RuntimeError):
    """No chart can be drawn here (matplotlib is not installed, or it failed to draw).

    ``reason`` is one line fit for a message: "text only, because {reason}".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Bar:
    label: str
    value: int
    text: str


def chart_label(name: str, limit: int = MAX_NAME) -> str:
    """A name as drawn: one line (control characters and runs of spaces become one space), at
    most ``limit`` characters with "…" when cut. matplotlib's ``$…$`` maths markup is switched off
    where the text is drawn, so "$" needs no escaping here."""
    line = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if not line:
        return "?"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def bar_chart(
    title: str,
    rows: Sequence[Row],
    *,
    unit: str,
    value_text: Callable[[int], str] = fmt_xp,
    empty_text: str = "Nothing to show",
) -> bytes:
    """A PNG of a horizontal bar chart, the first row at the top (the caller ranks the rows).

    Each bar is labelled with its name (:func:`chart_label`) and ``value_text(value)`` followed
    by ``unit`` ("1.5M XP"); values below zero are drawn as empty bars. No rows draws the title
    and ``empty_text``. Raises :class:`ChartUnavailable` when matplotlib is missing or fails.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartUnavailable(f"matplotlib is not installed ({exc})") from exc

    suffix = f" {unit}" if unit else ""
    bars = [
        _Bar(chart_label(name), value, value_text(value) + suffix) for name, value in rows
    ]
    height_px = CHROME_PX + ROW_PX * max(len(bars), 2)
    fig = Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    title_text = chart_label(title, MAX_TITLE)
    # Title and margins in pixels, so they stay the same whatever the number of rows.
    fig.text(
        16 / WIDTH_PX, 1 - 14 / height_px, title_text, color=TEXT, fontsize=FONT_PT + 3,
        fontweight="bold", va="top", ha="left", parse_math=False,
    )
    ax = fig.add_axes((0.33, 24 / height_px, 0.64, 1 - (CHROME_PX - 10) / height_px))
    ax.set_facecolor(BACKGROUND)
    ax.set_axis_off()
    if not bars:
        fig.text(0.5, 0.4, chart_label(empty_text, MAX_TITLE), color=MUTED, fontsize=FONT_PT,
                 ha="center", va="center", parse_math=False)
        return _png(fig)

    top = max(max(b.value for b in bars), 1)
    positions = range(len(bars))
    widths = [max(b.value, 0) for b in bars]
    colours = [TOP_BAR if i == 0 and bars[0].value > 0 else BAR for i in positions]
    ax.barh(list(positions), widths, height=0.72, color=colours)
    ax.set_ylim(len(bars) - 0.5, -0.5)  # first row on top
    ax.set_xlim(0, top * 1.0)
    for i, bar in enumerate(bars):
        ax.text(-0.015, i, bar.label, color=TEXT, fontsize=FONT_PT, ha="right", va="center",
                transform=ax.get_yaxis_transform(), parse_math=False)
        # The value sits inside a bar long enough to hold it, else just after the bar.
        inside = widths[i] >= top * 0.45
        ax.text(
            widths[i] - top * 0.015 if inside else widths[i] + top * 0.015, i, bar.text,
            color=BACKGROUND if inside else MUTED, fontsize=FONT_PT - 1, va="center",
            ha="right" if inside else "left", fontweight="bold" if inside else "normal",
            parse_math=False, clip_on=False,
        )
    return _png(fig)


def _png(fig: object) -> bytes:
    out = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # DejaVu Sans lacks some scripts and emoji: a name drawn with boxes is still a chart.
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
            warnings.filterwarnings("ignore", message="Matplotlib currently does not support")
            fig.savefig(  # type: ignore[attr-defined]
                out, format="png", facecolor=BACKGROUND, metadata={"Software": None}
            )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ChartUnavailable(f"the chart could not be drawn ({exc})") from exc
    return out.getvalue()
