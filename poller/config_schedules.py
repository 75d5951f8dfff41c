"""The config's scheduled reports: ``[[digest]]`` tables (and the checks tying them to the
webhooks and the gains metrics). Keys and defaults come from the dataclasses, as elsewhere."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from typing import Any

from poller.config_keys import allowed_keys, default_of
from poller.config_reader import Reader, describe
from poller.events import PLAYER_EVENT_KINDS
from poller.settings import DigestSettings, WebhookSettings

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

    def digests(
        self, value: Any, webhooks: Mapping[str, WebhookSettings], known: set[str],
        week_start: str,
    ) -> tuple[DigestSettings, ...]:
        if not isinstance(value, list):
            self.fail("digest", f"expected [[digest]] tables, got {describe(value)}")
        player_hooks = tuple(
            n for n, h in webhooks.items() if h.events & set(PLAYER_EVENT_KINDS)
        )
        out: list[DigestSettings] = []
        seen: set[str] = set()
        for i, raw in enumerate(value):
            d = self.collect(
                lambda r=raw, i=i: self.digest(r, f"digest[{i}]", player_hooks, known, week_start),
                None,
            )
            if d is None:
                continue
            if d.name.lower() in seen:
                self.collect(lambda i=i, d=d: self.fail(
                    f"digest[{i}].name", f"a second digest named {d.name!r}"), None)
                continue
            seen.add(d.name.lower())
            out.append(d)
        return tuple(out)

    def digest(
        self, raw: Any, key: str, player_hooks: tuple[str, ...], known: set[str], week_start: str
    ) -> DigestSettings:
        from poller.gains import UnknownMetric, find_metric

        t = self.table(raw, key, allowed_keys(DigestSettings))
        if "name" not in t:
            self.fail(f"{key}.name", "missing: every [[digest]] needs a name (used by "
                                     "`osrs-notify digest NAME`)")
        name = self.str_(t["name"], f"{key}.name").strip()
        if not _NAME.fullmatch(name):
            self.fail(f"{key}.name", f"{name!r} is not allowed", "1–32 of letters, digits, _ -")
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
        hooks = player_hooks
        if "webhooks" in t:
            hooks = tuple(self.str_list(t["webhooks"], f"{key}.webhooks"))
            for j, hook in enumerate(hooks):
                if hook not in known:
                    self.fail(f"{key}.webhooks[{j}]", f"digest {name!r}: no webhook named "
                                                      f"{hook!r}", sorted(known) or "none defined")
        if not hooks:
            self.fail(f"{key}.webhooks", f"digest {name!r} has nowhere to post: no webhook "
                                         "takes player events; name some in webhooks")
        return DigestSettings(name=name, at=at, metrics=tuple(metrics), webhooks=hooks, **values)
