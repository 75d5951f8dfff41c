"""The digest picture in the README (docs/digest-example.png) is the chart this code draws for
a realistic week: this test renders it and checks the committed copy is that picture.

After a change to the chart, regenerate it: ``OSRS_UPDATE_DOCS=1 python -m pytest -n 0
tests/unit/test_digest_picture.py``.
"""

from __future__ import annotations

import os
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest

from poller.digest_message import as_text, render
from poller.digests import DigestData, Milestone
from poller.gains import ClanGains, Gain, Gainer, find_metric
from poller.periods import Period
from poller.settings import DigestSettings

PICTURE = Path(__file__).resolve().parents[2] / "docs" / "digest-example.png"
WEEK = Period(datetime(2026, 11, 29, 20, tzinfo=timezone.utc),
              datetime(2026, 12, 6, 20, tzinfo=timezone.utc), "week of 2026-11-29")
XP = [("Lynx Titan", 4_812_330), ("Zezima", 3_104_870), ("Iron Hyd3", 2_250_100),
      ("B0aty", 1_930_455), ("Hey_Jase", 1_402_990), ("Mmorpg", 988_120),
      ("Sick Nerd", 730_400), ("Alkan", 512_880), ("Woox", 401_005), ("Framed", 226_350),
      ("Settled", 98_400), ("Muts", 12_900)]
KILLS = [("Woox", 412), ("B0aty", 377), ("Zezima", 96), ("Lynx Titan", 41), ("Framed", 18)]


def clan(metric: str, gains: list[tuple[str, int]], idle: int) -> ClanGains:
    gainers = tuple(Gainer(n, i + 1, Gain(v, None, WEEK.start, WEEK.end))
                    for i, (n, v) in enumerate(gains))
    return ClanGains(find_metric(metric), WEEK, gainers, tuple(f"p{i}" for i in range(idle)),
                     sum(v for _, v in gains), None)


def example():  # type: ignore[no-untyped-def]
    data = DigestData(WEEK, (clan("overall", XP, 28), clan("bosses", KILLS, 35)),
                      (Milestone("Zezima", "Strength"), Milestone("Iron Hyd3", "Slayer")), 9, 40)
    return render(DigestSettings(name="weekly", weekday="sunday", top=5), data,
                  "Europe/London", final=True, now=WEEK.end)


def png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def test_the_readme_picture_is_the_chart_we_draw() -> None:
    content = example()
    assert content.chart is not None
    if os.environ.get("OSRS_UPDATE_DOCS"):
        PICTURE.write_bytes(content.chart)
    if not PICTURE.is_file():
        pytest.fail(f"{PICTURE} is missing: regenerate it (see this module's docstring)")
    committed = PICTURE.read_bytes()
    # Same size and rows; not byte-equal (font rendering differs between matplotlib builds).
    assert png_size(committed) == png_size(content.chart)
    assert abs(len(committed) - len(content.chart)) < len(content.chart) // 4


def test_the_readme_transcript_is_what_we_render() -> None:
    readme = (PICTURE.parents[1] / "README.md").read_text(encoding="utf-8")
    for line in as_text(example())[:8]:
        assert line in readme, line
