"""The tables of the config file, each read into its settings value: the top-level keys, ``[poll]``,
``[prices]``, ``[rules]``, ``[[players]]``, ``[webhooks.NAME]`` and ``[[watch]]``, with the checks
that tie them together (a player's webhooks exist and take their events, a webhook's players are
configured, ...). Keys and defaults come from the dataclasses (``Reader.fields``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from notifier.webhook import WebhookURLError, parse_webhook_url
from poller import game
from poller.config_keys import allowed_keys, default_of
from poller.config_reader import (
    Reader,
    close_matches,
    describe,
    fmt_duration,
    join_key,
    suggest,
)
from poller.events import PLAYER_EVENT_KINDS
from poller.names import PLAYER_NAME_ALLOWED, normalize_name, validate_player_name
from poller.redact import mask_dsn
from poller.rules import CountRules, LevelRules, Rules, XpRules
from poller.settings import (
    EVENT_KINDS,
    ConfigError,
    PlayerSettings,
    PollSettings,
    PriceSettings,
    Settings,
    WatchSettings,
    WebhookSettings,
)

# Which rules table an override belongs in. An override put in the wrong table would be silently
# ignored by the event rules (they look bosses up in `bosses` only), so it is an error instead.
_OVERRIDE_CATEGORIES: dict[str, frozenset[game.Category]] = {
    "bosses": frozenset({game.Category.BOSS, game.Category.RAID}),
    "clues": frozenset({game.Category.CLUE}),
    "activities": frozenset(
        {game.Category.MINIGAME, game.Category.RATING, game.Category.POINTS}
    ),
}

_WEBHOOK_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
DEFAULT_DATABASE: str = default_of(Settings, "database_url")


class Tables(Reader):
    """One method per table (or top-level key); each raises ConfigError at its first problem."""

    def database(self, value: Any) -> str:
        key = "database"
        raw = self.env_value("DATABASE_URL")
        if raw is not None:
            key = "DATABASE_URL"
            try:
                return self.database_url(raw.strip(), key)
            except ConfigError as e:
                self.env_fail("DATABASE_URL", e.problem, e.allowed)
        return self.database_url(DEFAULT_DATABASE if value is None else self.str_(value, key), key)

    def database_url(self, url: str, key: str) -> str:
        allowed = "sqlite:///relative.db, sqlite:////absolute.db, postgresql://…, postgres://…"
        if url.startswith(("postgresql://", "postgres://")):
            return url
        if not url.startswith("sqlite:///"):
            shown = mask_dsn(url) or "an empty string"
            self.fail(key, f"unsupported database URL {shown!r}", allowed)
        rest = url[len("sqlite:///") :]
        path_part, sep, query = rest.partition("?")
        if path_part in ("", ":memory:"):
            if not path_part:
                self.fail(key, "sqlite URL names no file", allowed)
            return url
        target = Path(path_part).expanduser()
        # Relative to the config file, not the working directory: cron starts us in $HOME.
        if not target.is_absolute():
            target = self.path.parent / target
        return f"sqlite:///{target.resolve().as_posix()}" + (f"?{query}" if sep else "")

    def redis(self, value: Any) -> str:
        raw = self.env_value("REDIS_URL")
        allowed = "redis://…, rediss://…, unix://…, or \"\" for none"
        if raw is not None:
            if not raw.strip().startswith(("redis://", "rediss://", "unix://")):
                self.env_fail("REDIS_URL", f"unsupported URL {mask_dsn(raw)!r}", allowed)
            return raw.strip()
        url = default_of(Settings, "redis_url") if value is None else self.str_(value, "redis")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            self.fail("redis", f"unsupported URL {mask_dsn(url)!r}", allowed)
        return url

    def timezone(self, value: Any) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.str_(value, "timezone")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            from zoneinfo import available_timezones

            hint = suggest(name, available_timezones())
            self.fail(
                "timezone",
                f"unknown time zone {name!r}" + (f"; did you mean {hint!r}?" if hint else ""),
                "IANA names such as UTC, Europe/London, America/New_York",
            )
        return name

    def redis_prefix(self, value: Any) -> str:
        text = self.str_(value, "redis_prefix")
        if not _REDIS_PREFIX.fullmatch(text):
            self.fail(
                "redis_prefix", f"{text!r} is not allowed", "1–64 of letters, digits, _ . : -"
            )
        return text

    def poll(self, value: Any) -> PollSettings:
        t = self.table(value, "poll", allowed_keys(PollSettings))
        values = self.fields(PollSettings, t, "poll")
        # Unwritten, the bounds make room for the interval (a test's "1m", a quiet "2d").
        if "min_interval" not in t:
            values["min_interval"] = min(values["min_interval"], values["interval"])
        if "max_interval" not in t:
            values["max_interval"] = max(values["max_interval"], values["interval"])
        poll = PollSettings(**values)
        if not poll.min_interval <= poll.interval <= poll.max_interval:
            self.fail("poll", f"min_interval ({fmt_duration(poll.min_interval)}) ≤ interval "
                              f"({fmt_duration(poll.interval)}) ≤ max_interval "
                              f"({fmt_duration(poll.max_interval)}) does not hold")
        return poll

    def prices(self, value: Any) -> PriceSettings:
        t = self.table(value, "prices", allowed_keys(PriceSettings))
        return PriceSettings(**self.fields(PriceSettings, t, "prices"))

    def rules(self, value: Any) -> Rules:
        d = Rules()
        t = self.table(value, "rules", allowed_keys(Rules))
        levels = d.levels
        if "levels" in t:
            lt = self.table(t["levels"], "rules.levels", allowed_keys(LevelRules))
            levels = LevelRules(**self.fields(LevelRules, lt, "rules.levels"))
        xp = d.xp
        if "xp" in t:
            xt = self.table(t["xp"], "rules.xp", allowed_keys(XpRules))
            xp = XpRules(**self.fields(XpRules, xt, "rules.xp"))
        counts = {
            name: self.count_rules(t[name], name, getattr(d, name)) if name in t
            else getattr(d, name)
            for name in ("bosses", "clues", "activities")
        }
        return Rules(levels=levels, xp=xp, **counts)

    def count_rules(self, value: Any, section: str, default: CountRules) -> CountRules:
        key = f"rules.{section}"
        t = self.table(value, key, allowed_keys(CountRules))
        # This table's own default (every 50 bosses, every 100 clues), not CountRules'.
        every = self.field(CountRules, t, key, "every", base=default)
        overrides: dict[str, int] = {}
        raw = t.get("overrides", {})
        if not isinstance(raw, dict):
            self.fail(f"{key}.overrides", f"expected a table of name = count, got {describe(raw)}")
        by_lower = {name.lower(): name for name in game.ACTIVITIES}
        fits = _OVERRIDE_CATEGORIES[section]
        for name, step in raw.items():
            okey = join_key(f"{key}.overrides", name)
            canonical = by_lower.get(name.lower())
            if canonical is None:
                close = close_matches(name, game.ACTIVITIES, n=3)
                self.fail(
                    okey,
                    f"unknown hiscores name {name!r}"
                    + (f"; did you mean {' or '.join(map(repr, close))}?" if close else ""),
                    "names as on the hiscores, e.g. 'TzKal-Zuk', 'Clue Scrolls (all)'",
                )
            category = game.ACTIVITIES[canonical]
            if category not in fits:
                home = next(s for s, cats in _OVERRIDE_CATEGORIES.items() if category in cats)
                self.fail(okey, f"{canonical!r} is not one of the {section}; "
                                f"put it under rules.{home}.overrides")
            overrides[canonical] = self.int_(step, okey, 1)
        return CountRules(every=every, overrides=overrides)

    def players(
        self, value: Any
    ) -> tuple[tuple[PlayerSettings, ...], tuple[tuple[int, PlayerSettings], ...]]:
        """The players, and each with its index in the file (for error key paths)."""
        if not isinstance(value, list):
            self.fail("players", f"expected [[players]] tables, got {describe(value)}")
        players: list[PlayerSettings] = []
        indexed: list[tuple[int, PlayerSettings]] = []
        seen: dict[str, str] = {}
        for i, raw in enumerate(value):
            key = f"players[{i}]"
            player = self.collect(lambda raw=raw, key=key: self.player(raw, key), None)
            if player is None:
                continue
            if player.key in seen:
                self.collect(lambda p=player, key=key: self.fail(
                    f"{key}.name",
                    f"player {p.name!r} is listed twice (same player as {seen[p.key]!r}: "
                    "case, '_', '-' and spaces do not matter on the hiscores)",
                ), None)
                continue
            seen[player.key] = player.name
            players.append(player)
            indexed.append((i, player))
        return tuple(players), tuple(indexed)

    def player(self, raw: Any, key: str) -> PlayerSettings:
        t = self.table(raw, key, allowed_keys(PlayerSettings))
        if "name" not in t:
            self.fail(f"{key}.name", "missing: every [[players]] needs a name")
        name = self.str_(t["name"], f"{key}.name")
        problem = validate_player_name(name)
        if problem:
            self.fail(f"{key}.name", f"player name {name!r} {problem}", PLAYER_NAME_ALLOWED)
        mode = self.field(PlayerSettings, t, key, "mode")
        hooks = None
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
        return PlayerSettings(name=name, mode=mode, webhooks=hooks)

    def webhooks(
        self, value: Any, known: set[str]
    ) -> tuple[dict[str, WebhookSettings], set[str]]:
        """Returns the good webhooks and the names of broken ones (so references to a broken
        webhook aren't reported a second time as "unknown")."""
        good: dict[str, WebhookSettings] = {}
        broken: set[str] = set()
        if not isinstance(value, dict):
            self.collect(lambda: self.fail("webhooks", f"expected [webhooks.NAME] tables, got "
                                                       f"{describe(value)}"), None)
            return good, broken
        for name, raw in value.items():
            hook = self.collect(lambda n=name, r=raw: self.webhook(n, r, known), None)
            if hook is None:
                broken.add(name)
            else:
                good[name] = hook
        return good, broken

    def webhook(self, name: str, raw: Any, known_players: set[str]) -> WebhookSettings:
        key = join_key("webhooks", name)
        if not _WEBHOOK_NAME.fullmatch(name):
            self.fail(key, f"webhook name {name!r} is not allowed",
                      "1–32 letters, digits, '_' or '-'")
        t = self.table(raw, key, allowed_keys(WebhookSettings))
        if "url" not in t:
            self.fail(f"{key}.url", 'missing (write url = "${SOME_WEBHOOK_URL}" and set it in '
                                    "the environment or .env)")
        url = self.str_(t["url"], f"{key}.url").strip()
        address = None
        if url:
            try:
                address = parse_webhook_url(url)
            except WebhookURLError as e:
                self.fail(f"{key}.url", str(e))  # WebhookURLError's message is already masked
        events: frozenset[str] = default_of(WebhookSettings, "events")
        if "events" in t:
            kinds = self.str_list(t["events"], f"{key}.events")
            for i, kind in enumerate(kinds):
                self.choice(kind, f"{key}.events[{i}]", EVENT_KINDS)
            events = frozenset(kinds)
        lists = {}
        for which in ("players", "exclude"):
            default = list(default_of(WebhookSettings, which))
            names = self.str_list(t.get(which, default), f"{key}.{which}")
            for i, player in enumerate(names):
                if player != "*" and normalize_name(player) not in known_players:
                    self.fail(f"{key}.{which}[{i}]", f"{player!r} is not a configured player",
                              'names from [[players]], or "*" for all')
            lists[which] = tuple(names)
        username = None
        if "username" in t:
            username = self.str_(t["username"], f"{key}.username")
            if not 1 <= len(username) <= 80:
                self.fail(f"{key}.username", "must be 1–80 characters (a Discord limit)")
        avatar = self.http_url(t["avatar_url"], f"{key}.avatar_url") if "avatar_url" in t else None
        thread_id = None
        if "thread_id" in t:
            raw_id = t["thread_id"]
            if isinstance(raw_id, int) and not isinstance(raw_id, bool):
                raw_id = str(raw_id)  # a snowflake fits TOML's 64-bit integers
            thread_id = self.str_(raw_id, f"{key}.thread_id")
            if not _SNOWFLAKE.fullmatch(thread_id):
                self.fail(f"{key}.thread_id", f"{thread_id!r} is not a Discord id", "digits")
        fmt = self.field(WebhookSettings, t, key, "format")
        templates: dict[str, str] = {}
        if "templates" in t:
            tt = self.table(t["templates"], f"{key}.templates", EVENT_KINDS)
            for kind, text in tt.items():
                # Each template on its own, so every bad one is listed; the webhook itself
                # stays known (players naming it are not reported a second time).
                good = self.collect(
                    lambda k=kind, v=text: self.template(k, v, join_key(f"{key}.templates", k)),
                    None,
                )
                if good is not None:
                    templates[kind] = good
        return WebhookSettings(
            name=name, url=url, address=address, events=events, players=lists["players"],
            exclude=lists["exclude"], username=username, avatar_url=avatar, thread_id=thread_id,
            format=fmt, templates=templates,
        )

    def template(self, kind: str, value: Any, key: str) -> str:
        """A text template for ``kind``, checked as ``notifier.text`` will render it: an
        unknown placeholder or a stray brace would otherwise be printed as written, to Discord."""
        from notifier.text import TEMPLATE_FIELDS, validate_template

        text = self.str_(value, key)
        problem = validate_template(kind, text)
        if problem is not None:
            fields = TEMPLATE_FIELDS.get(kind)
            if not fields:
                self.fail(key, problem)
            # The allowed placeholders go in "(allowed: ...)", not twice in one line.
            problem = problem.partition("; known: ")[0]
            self.fail(key, problem, ", ".join(f"{{{f}}}" for f in fields))
        return text

    def player_webhooks(
        self,
        index: int,
        player: PlayerSettings,
        webhooks: Mapping[str, WebhookSettings],
        known: set[str],
    ) -> None:
        if player.webhooks is None:
            return
        for j, name in enumerate(player.webhooks):
            key = f"players[{index}].webhooks[{j}]"
            if name not in known:
                self.fail(key, f"player {player.name!r}: no webhook named {name!r}",
                          sorted(known) or "none defined: add a [webhooks.NAME] table")
            hook = webhooks.get(name)
            if hook is None:
                continue  # broken webhook, already reported
            # These would silently never deliver: the player asked for a webhook that won't
            # take their events.
            if not hook.events & set(PLAYER_EVENT_KINDS):
                self.fail(key, f"player {player.name!r}: webhook {name!r} takes no player events "
                               f"(its events: {', '.join(sorted(hook.events)) or 'none'})")
            if not hook.includes(player.name):
                self.fail(key, f"player {player.name!r}: webhook {name!r} leaves this player out "
                               "(see its players/exclude)")

    def watches(
        self,
        value: Any,
        prices: PriceSettings,
        webhooks: Mapping[str, WebhookSettings],
        known: set[str],
    ) -> tuple[WatchSettings, ...]:
        if not isinstance(value, list):
            self.fail("watch", f"expected [[watch]] tables, got {describe(value)}")
        price_hooks = tuple(n for n, h in webhooks.items() if "price" in h.events)
        out = []
        for i, raw in enumerate(value):
            w = self.collect(lambda r=raw, i=i: self.watch(r, f"watch[{i}]", prices, price_hooks,
                                                           known), None)
            if w is not None:
                out.append(w)
        return tuple(out)

    def watch(
        self,
        raw: Any,
        key: str,
        prices: PriceSettings,
        price_hooks: tuple[str, ...],
        known: set[str],
    ) -> WatchSettings:
        t = self.table(raw, key, allowed_keys(WatchSettings))
        if "item" not in t:
            self.fail(f"{key}.item", "missing: every [[watch]] needs an item (name or id)")
        item = t["item"]
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            self.fail(f"{key}.item", f"expected an item name or id, got {describe(item)}")
        if isinstance(item, str):
            item = item.strip()
            if not item:
                self.fail(f"{key}.item", "empty item name")
        else:
            self.int_(item, f"{key}.item", 1)
        above = self.field(WatchSettings, t, key, "above")
        below = self.field(WatchSettings, t, key, "below")
        change = None
        if "change_pct" in t:
            change = self.float_(t["change_pct"], f"{key}.change_pct")
            if change <= 0:
                self.fail(f"{key}.change_pct", f"{t['change_pct']} is out of range", "> 0")
        if above is None and below is None and change is None:
            self.fail(key, f"watch on {item!r} has nothing to watch",
                      "at least one of above, below, change_pct")
        if above is not None and below is not None and above <= below:
            self.fail(f"{key}.above", f"watch on {item!r}: above ({above:,}) must be greater "
                                      f"than below ({below:,})")
        cooldown = self.field(WatchSettings, t, key, "cooldown")
        # Unwritten, a watch's window is the [prices] one.
        window = self.field(WatchSettings, t, key, "window", base=prices)
        hooks = price_hooks
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
            for j, name in enumerate(hooks):
                if name not in known:
                    self.fail(f"{key}.webhooks[{j}]", f"watch on {item!r}: no webhook named "
                                                      f"{name!r}", sorted(known) or "none defined")
        return WatchSettings(item=item, above=above, below=below, change_pct=change,
                             cooldown=cooldown, window=window, webhooks=hooks)

