"""A player's events from one poll → facts, each said once.

The hiscores often report one thing as several events: a kill count that passed 500 and the
"500 Vorkath kills" achievement it earned; a 99 and the "99 Attack" achievement; a hard clue and
the "all clues" count the same casket raised. A clan should read each of those once, so before
anything is rendered the events are folded into facts:

- **Twins.** An event rides in the achievement it earned (the achievement's ``about`` and
  ``scale`` say which metric and scale the band measures, its ``new`` is the band; the event's
  ``scale`` says what its value is on, as the poller decided). The fact is a
  highlight: headline "500 Vorkath kills", and the event's own line only when it adds something
  ("Vorkath: 503 kills"; not "Attack 98 → 99" under "99 Attack").
- **Clues.** Tier events and the "all" event of the same poll are one line,
  "Clue scrolls: 100 hard · 500 in all".
- **Milestones** without an achievement (a virtual 126, a 200M without its band) are highlights
  of their own.
- Everything else is a plain fact: one line in the player's embed.

Every delivery id stays with the fact that says it, so a message carries every event it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from notifier.notice import Notice
from notifier.numbers import fmt_int
from notifier.text import clue_line, event_line, xp_mark

Item = tuple[int, Notice]


@dataclass
class Fact:
    """One thing to say: ``items[0]`` is the headline event, the rest ride along."""

    items: list[Item]
    highlight: bool = False
    clue: tuple[list[Notice], Notice | None] | None = None
    details: list[str] = field(default_factory=list)  # highlight: lines that add to the headline

    @property
    def main(self) -> Notice:
        return self.items[0][1]

    @property
    def notices(self) -> list[Notice]:
        return [n for _, n in self.items]

    @property
    def ids(self) -> list[int]:
        return [i for i, _ in self.items]

    def line(self) -> str:
        """A plain fact's line, or a highlight's headline (plain text, not escaped)."""
        if self.highlight:
            return headline(self.main)
        if self.clue is not None:
            return clue_line(*self.clue)
        return event_line(self.main)


def headline(n: Notice) -> str:
    """A milestone in a few words: "99 Attack", "200M Fishing XP", "500 Vorkath kills"."""
    if n.kind == "achievement":
        return n.metric
    if n.kind == "levelup" and n.new is not None:
        return f"{fmt_int(n.new)} {n.metric}"
    if n.kind == "xp" and (n.threshold is not None or n.new is not None):
        return f"{xp_mark(n)} {n.metric} XP"
    return event_line(n)


def _band_of(n: Notice) -> int | None:
    """The value a milestone stands for: the achievement's band, or the threshold crossed."""
    return n.new if n.kind == "achievement" else n.threshold


def _reaches(event: Notice, band: int) -> bool:
    if event.new is None or band > event.new:
        return False
    return event.old is None or event.old < band


def _twin(event: Notice, achievements: Sequence[tuple[int, Notice]]) -> int | None:
    """Index of the highest achievement band this event reached, if any: an achievement
    measures (about, scale), an event's value is its metric's on its scale."""
    if event.scale is None:
        return None
    best: tuple[int, int] | None = None
    for n, a in achievements:
        band = _band_of(a)
        if a.about is None or a.scale is None or band is None:
            continue
        if (a.about, a.scale) == (event.metric, event.scale) and _reaches(event, band):
            if best is None or band > best[1]:
                best = (n, band)
    return None if best is None else best[0]


def _adds(event: Notice, band: int | None) -> bool:
    """Whether an event's own line says more than the milestone it sits under."""
    return band is None or event.new != band

def player_facts(
    items: Sequence[Item], *, own_line: Callable[[str], bool] = lambda kind: False
) -> list[Fact]:
    """One player's events from one poll as facts: plain facts first (event order), then
    highlights (event order). ``own_line(kind)`` is true for kinds a webhook renders with its own
    template: their events are not folded into clue lines (achievement twins still are)."""
    achievements = [(n, p) for n, (_, p) in enumerate(items) if p.kind == "achievement"]
    riders: dict[int, list[int]] = {}  # achievement index → indexes of events riding in it
    ridden: set[int] = set()
    for n, (_, p) in enumerate(items):
        if p.kind != "achievement":
            target = _twin(p, achievements)
            if target is not None:
                riders.setdefault(target, []).append(n)
                ridden.add(n)

    # Clues: tiers and "all" of the same poll become one fact. If any of them earned an
    # achievement, the whole clue fact rides in that achievement.
    clue_ns = [
        n for n, (_, p) in enumerate(items)
        if p.kind == "clue" and p.tier is not None and not p.first
        and not own_line("clue")
    ]
    total_ns = [n for n in clue_ns if items[n][1].tier == "all"]
    tier_ns = [n for n in clue_ns if items[n][1].tier != "all"]
    clue_group: list[int] = tier_ns + total_ns if total_ns and tier_ns else []
    clue_home: int | None = None
    for n in clue_group:
        for target, ns in riders.items():
            if n in ns:
                clue_home = target if clue_home is None else clue_home
    if clue_home is not None:
        for ns in riders.values():
            ns[:] = [n for n in ns if n not in clue_group]
        riders[clue_home].extend(clue_group)
        ridden.update(clue_group)

    plain: list[Fact] = []
    highlights: list[Fact] = []
    clue_done = False
    for n, (delivery_id, p) in enumerate(items):
        if n in ridden and not (n in clue_group and clue_home is None):
            continue
        if n in clue_group:
            if not clue_done:
                clue_done = True
                plain.append(_clue_fact(items, clue_group, tier_ns, total_ns))
            continue
        if p.kind == "achievement":
            fact = Fact([(delivery_id, p)], highlight=True)
            band = _band_of(p)
            ns = riders.get(n, [])
            fact.items += [items[m] for m in ns]
            in_clue = [m for m in ns if m in clue_group]
            if in_clue:
                total = items[total_ns[0]][1] if total_ns else None
                hide_total = total is not None and total.new == band
                fact.details.append(clue_line([items[m][1] for m in tier_ns],
                                              None if hide_total else total))
            fact.details += [
                event_line(items[m][1], passed=False)
                for m in ns if m not in clue_group and _adds(items[m][1], band)
            ]
            highlights.append(fact)
        elif p.milestone:
            fact = Fact([(delivery_id, p)], highlight=True)
            if _adds(p, _band_of(p)):
                fact.details.append(event_line(p, passed=False))
            highlights.append(fact)
        else:
            plain.append(Fact([(delivery_id, p)]))
    return plain + highlights


def _clue_fact(items: Sequence[Item], group: list[int], tier_ns: list[int],
               total_ns: list[int]) -> Fact:
    ordered = sorted(group)
    tiers = [items[n][1] for n in tier_ns]
    total = items[total_ns[0]][1]
    # Headline notice: the first tier (its icon is the clue's picture); the rest ride along.
    first = tier_ns[0]
    fact_items = [items[first]] + [items[n] for n in ordered if n != first]
    return Fact(fact_items, clue=(tiers, total))
