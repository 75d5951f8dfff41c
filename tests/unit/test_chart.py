"""notifier.chart: PNG bar charts for digests, and matplotlib kept out of every cron poll."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from notifier.chart import MAX_NAME, ChartUnavailable, bar_chart, chart_label
from notifier.numbers import fmt_gp

from support import TOKEN, cli_in_a_fresh_process

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ONE_MB = 1024 * 1024


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_MAGIC and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_ten_rows_is_a_png_under_a_megabyte() -> None:
    rows = [(f"Player {i}", 1_000_000 * (10 - i)) for i in range(10)]
    png = bar_chart("Top gainers", rows, unit="XP")
    width, height = png_size(png)
    assert width == 800 and 300 <= height <= 600
    assert len(png) < ONE_MB


def test_fifty_rows_grow_the_image_not_shrink_the_text() -> None:
    ten = png_size(bar_chart("t", [(f"p{i}", i + 1) for i in range(10)], unit="XP"))
    png = bar_chart("t", [(f"p{i}", 10**9 - i) for i in range(50)], unit="XP")
    fifty = png_size(png)
    assert fifty[0] == ten[0] and fifty[1] - ten[1] == 40 * 34  # 34 px a row, whatever the count
    assert len(png) < ONE_MB


def test_zero_rows_still_draws_the_title_and_the_empty_text() -> None:
    png = bar_chart("Nobody gained anything", [], unit="XP", empty_text="Quiet week")
    assert png_size(png)[0] == 800 and len(png) < ONE_MB
    # The empty chart differs from one with rows (it is not a blank image by accident).
    assert png != bar_chart("Nobody gained anything", [("a", 1)], unit="XP")


def test_hostile_names_render() -> None:
    # "$" would start matplotlib maths markup, "\n" a second line, "_" a subscript in maths.
    rows = [("$\\frac{1}{0}$", 5), ("a\nb\tc", 4), ("x" * 500, 3), ("日本語 🎉", 2), ("", 1),
            ("neg", -10)]
    png = bar_chart("$title$ with \\ and _", rows, unit="")
    assert png[:8] == PNG_MAGIC and len(png) < ONE_MB


def test_values_can_be_formatted_by_the_caller() -> None:
    png = bar_chart("Top flips", [("Twisted bow", 1_650_000_000)], unit="", value_text=fmt_gp)
    assert png[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    ("name", "drawn"),
    [
        ("Zezima", "Zezima"),
        ("a\nb\t c", "a b c"),
        ("   ", "?"),
        ("x" * 40, "x" * (MAX_NAME - 1) + "…"),
        ("abcdefghijklmnopq stuvwxyz", "abcdefghijklmnopq…"),  # no space left before "…"
    ],
)
def test_chart_label(name: str, drawn: str) -> None:
    assert chart_label(name) == drawn
    assert len(chart_label(name)) <= MAX_NAME


def test_without_matplotlib_a_typed_error_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib...` raises
    with pytest.raises(ChartUnavailable) as info:
        bar_chart("t", [("a", 1)], unit="XP")
    assert "matplotlib is not installed" in info.value.reason


def test_a_poll_never_imports_matplotlib(tmp_path: Path) -> None:
    # A fresh interpreter: this one has imported matplotlib for the tests above. Two polls: the
    # first stores a baseline, the second has nothing to do (the cron case the budget is for).
    hook = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"
    for _ in range(2):
        result = cli_in_a_fresh_process(tmp_path, ["poll"], watched="matplotlib", hook=hook)
        assert result == {"code": 0, "loaded": False}


def test_a_poll_with_a_digest_not_due_never_imports_matplotlib(tmp_path: Path) -> None:
    hook = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"
    digest = '[[digest]]\nname = "weekly"\n'
    for _ in range(2):
        result = cli_in_a_fresh_process(tmp_path, ["poll"], watched="matplotlib", hook=hook,
                                        config_extra=digest)
        assert result == {"code": 0, "loaded": False}
    # The same config: a digest on demand is what draws a chart.
    shown = cli_in_a_fresh_process(tmp_path, ["digest", "weekly", "--dry-run"],
                                   watched="matplotlib", hook=hook, config_extra=digest)
    assert shown == {"code": 0, "loaded": True}
