"""The config's scheduled reports: ``[[digest]]`` and ``[[competition]]`` tables, and the checks
tying them to the webhooks, the players and the gains metrics. Keys and defaults come from the
dataclasses, as elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from poller.config_keys import allowed_keys, default_of
from poller.config_reader import Reader, describe
from poller.events import PLAYER_EVENT_KINDS
from poller.names import normalize_name
from poller.settings import RANDOM_METRICS, CompetitionSettings, DigestSettings, WebhookSettings

T = TypeVar("T")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


class ScheduleTables(Reader):
    """One method per table; each raises ConfigError at its first problem."""

    def local_time(self, value: Any, key: str) -> time:
        """``at = 18:00`` (a TOML local time) or ``at = "18:00"``."""
        if isinstance(value, time):
            if value.tzinfo is not None:
                self.fail(key, f"{value} names an offset; times are in the config's timezone")
            return value.replace(second=0, microsecond=0)
        if isinstance(value, str):
            match = _CLOCK.fullmatch(value.strip())
            if match:
                return time(int(match.group(1)), int(match.group(2)))
        self.fail(key, f"expected a local time, got {describe(value)}", "18:00, \"07:30\"")

    def named_tables(
        self, value: Any, table: str, read: Callable[[Any, str], T]
    ) -> tuple[T, ...]:
        """``[[table]]`` entries read by ``read(raw, key)``, each problem collected; a second
        entry with the same name (case-insensitively) is an error."""
        if not isinstance(value, list):
            self.fail(table, f"expected [[{table}]] tables, got {describe(value)}")
        out: list[T] = []
        seen: set[str] = set()
        for i, raw in enumerate(value):
            entry = self.collect(lambda r=raw, i=i: read(r, f"{table}[{i}]"), None)
            if entry is None:
                continue
            name = str(entry.name)
            if name.lower() in seen:
                self.collect(lambda i=i, n=name: self.fail(
                    f"{table}[{i}].name", f"a second {table} named {n!r}"), None)
                continue
            seen.add(name.lower())
            out.append(entry)
        return tuple(out)

    def entry_name(self, t: Mapping[str, Any], key: str, table: str, used_by: str) -> str:
        if "name" not in t:
            self.fail(f"{key}.name", f"missing: every [[{table}]] needs a name (used by "
                                     f"`{used_by}`)")
        name = self.str_(t["name"], f"{key}.name").strip()
        if not _NAME.fullmatch(name):
            self.fail(f"{key}.name", f"{name!r} is not allowed", "1–32 of letters, digits, _ -")
        return name

    def post_webhooks(
        self, t: Mapping[str, Any], key: str, what: str, webhooks: Mapping[str, WebhookSettings],
        known: set[str],
    ) -> tuple[str, ...]:
        """A report's ``webhooks``: named ones that exist, else every webhook that takes player
        events; none at all is an error (the report would never be seen)."""
        hooks = tuple(n for n, h in webhooks.items() if h.events & set(PLAYER_EVENT_KINDS))
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
            for j, hook in enumerate(hooks):
                if hook not in known:
                    self.fail(f"{key}.webhooks[{j}]", f"{what}: no webhook named {hook!r}",
                              sorted(known) or "none defined")
        if not hooks:
            self.fail(f"{key}.webhooks", f"{what} has nowhere to post: no webhook takes player "
                                         "events; name some in webhooks")
        return hooks

    def digests(
        self, value: Any, webhooks: Mapping[str, WebhookSettings], known: set[str],
        week_start: str,
    ) -> tuple[DigestSettings, ...]:
        return self.named_tables(
            value, "digest", lambda raw, key: self.digest(raw, key, webhooks, known, week_start))

    def digest(
        self, raw: Any, key: str, webhooks: Mapping[str, WebhookSettings], known: set[str],
        week_start: str,
    ) -> DigestSettings:
        from poller.gains import UnknownMetric, find_metric

        t = self.table(raw, key, allowed_keys(DigestSettings))
        name = self.entry_name(t, key, "digest", "osrs-notify digest NAME")
        values = self.fields(DigestSettings, t, key)
        if values["weekday"] is not None and values["every"] != "week":
            self.fail(f"{key}.weekday", f"digest {name!r}: weekday is for every = \"week\" "
                                        f"(this one is every = {values['every']!r})")
        values["weekday"] = values["weekday"] or week_start
        at = default_of(DigestSettings, "at")
        if "at" in t:
            at = self.local_time(t["at"], f"{key}.at")
        metrics: list[str] = list(default_of(DigestSettings, "metrics"))
        if "metrics" in t:
            metrics = self.str_list(t["metrics"], f"{key}.metrics")
            if not metrics:
                self.fail(f"{key}.metrics", f"digest {name!r} has no metrics")
        for j, text in enumerate(metrics):
            try:
                metrics[j] = find_metric(text).key
            except UnknownMetric as exc:
                self.fail(f"{key}.metrics[{j}]", str(exc))
        if len(set(metrics)) != len(metrics):
            self.fail(f"{key}.metrics", f"digest {name!r} names a metric twice")
        hooks = self.post_webhooks(t, key, f"digest {name!r}", webhooks, known)
        return DigestSettings(name=name, at=at, metrics=tuple(metrics), webhooks=hooks, **values)

    # -- [[competition]] ---------------------------------------------------------------------

    def local_datetime(self, value: Any, key: str, tz: str) -> datetime:
        """``start = 2026-12-07T18:00:00`` (a TOML local date-time in ``tz``; one with an
        offset is taken as written) or the same as a string → aware UTC."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                pass
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time(0))
        if not isinstance(value, datetime):
            self.fail(key, f"expected a local date-time, got {describe(value)}",
                      "2026-12-07T18:00:00 (in the config's timezone)")
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(tz))
        return value.astimezone(timezone.utc)

    def competitions(
        self, value: Any, webhooks: Mapping[str, WebhookSettings], known: set[str],
        tz: str, players: set[str],
    ) -> tuple[CompetitionSettings, ...]:
        return self.named_tables(value, "competition", lambda raw, key: self.competition(
            raw, key, webhooks, known, tz, players))

    def competition(
        self, raw: Any, key: str, webhooks: Mapping[str, WebhookSettings], known: set[str],
        tz: str, players: set[str],
    ) -> CompetitionSettings:
        t = self.table(raw, key, (*allowed_keys(CompetitionSettings), "metric"))
        name = self.entry_name(t, key, "competition", "osrs-notify competition show NAME")
        what = f"competition {name!r}"
        values = self.fields(CompetitionSettings, t, key)
        metrics = self.competition_metrics(t, key, what, recurring=values["every"] is not None)
        start = end = None
        if values["every"] is None:
            for k in ("weekday", "at"):
                if k in t:
                    self.fail(f"{key}.{k}", f"{what}: {k} is for a recurring competition "
                                            "(every = \"week\")")
            if "start" not in t or "end" not in t:
                self.fail(key, f"{what} needs start and end (or every = \"week\" to recur)")
            start = self.local_datetime(t["start"], f"{key}.start", tz)
            end = self.local_datetime(t["end"], f"{key}.end", tz)
            if end <= start:
                self.fail(f"{key}.end", f"{what} ends ({t['end']}) before it starts "
                                        f"({t['start']})")
        else:
            for k in ("start", "end"):
                if k in t:
                    self.fail(f"{key}.{k}", f"{what} recurs every {values['every']}: its rounds "
                                            "are set by weekday and at, not start/end")
            if values["weekday"] is not None and values["every"] != "week":
                self.fail(f"{key}.weekday", f"{what}: weekday is for every = \"week\"")
        at = default_of(CompetitionSettings, "at")
        if "at" in t:
            at = self.local_time(t["at"], f"{key}.at")
        entrants: list[str] = []
        if "players" in t:
            for j, player in enumerate(self.str_list(t["players"], f"{key}.players")):
                if normalize_name(player) not in players:
                    self.fail(f"{key}.players[{j}]", f"{what}: {player!r} is not a configured "
                                                     "player (add a [[players]] table first)")
                entrants.append(normalize_name(player))
        reminders = default_of(CompetitionSettings, "reminders")
        if "reminders" in t:
            texts = self.str_list(t["reminders"], f"{key}.reminders")
            reminders = tuple(self.duration(r, f"{key}.reminders[{j}]") for j, r in
                              enumerate(texts))
        hooks = self.post_webhooks(t, key, what, webhooks, known)
        return CompetitionSettings(
            name=name, metrics=metrics, start=start, end=end, at=at, players=tuple(entrants),
            webhooks=hooks, reminders=tuple(sorted(reminders, reverse=True)), **values,
        )

    def competition_metrics(
        self, t: Mapping[str, Any], key: str, what: str, *, recurring: bool
    ) -> tuple[str, ...]:
        from poller.gains import UnknownMetric, find_metric

        if ("metric" in t) == ("metrics" in t):
            self.fail(key, f"{what} needs one of metric or metrics (several, summed)")
        where = f"{key}.metric" if "metric" in t else f"{key}.metrics"
        texts = [self.str_(t["metric"], where)] if "metric" in t else \
            self.str_list(t["metrics"], where)
        if not texts:
            self.fail(where, f"{what} has no metrics")
        out: list[str] = []
        for j, text in enumerate(texts):
            k = where if "metric" in t else f"{where}[{j}]"
            if text in RANDOM_METRICS:
                if not recurring or len(texts) > 1:
                    self.fail(k, f"{what}: {text} picks one metric per round of a recurring "
                                 "competition, on its own")
                out.append(text)
                continue
            try:
                out.append(find_metric(text).key)
            except UnknownMetric as exc:
                self.fail(k, str(exc) + "; or random_skill, random_boss")
        if len(set(out)) != len(out):
            self.fail(where, f"{what} names a metric twice")
        return tuple(out)
