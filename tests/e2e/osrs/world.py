"""One end-to-end world for the tests of the installed `osrs-notify`: a home directory with a
config and a ``.env``, the loopback fake hiscores and the strict fake Discord with one webhook
(``clan``, its URL in ``CLAN_URL``), and a way to run the command there (optionally at a given
time, through OSRS_NOTIFY_CLOCK) that fails the test on a traceback or a leaked token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fake_discord import Delivery, FakeDiscord
from fake_hiscores import FakeHiscores, FakeServer

from support import osrs_notify_command

# What most e2e configs start with: SQLite beside the config, no rate limit or cache in the
# way, one webhook. Append the tables a test needs (``players_toml`` for the players).
BASE_CONFIG = (
    'database = "sqlite:///state.db"\n'
    "[poll]\nconcurrency = 2\nrate_limit = 6000\ncache_ttl = 0\nretries = 0\n"
    '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
)


def players_toml(*names: str) -> str:
    return "".join(f'\n[[players]]\nname = "{n}"\n' for n in names)


@dataclass
class World:
    home: Path
    hiscores: FakeHiscores
    discord: FakeDiscord
    hook: str
    env: dict[str, str]

    @property
    def config_path(self) -> Path:
        return self.home / "osrs-notify.toml"

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text)

    def cli(self, *args: str, at: datetime | None = None,
            code: int | None = None) -> subprocess.CompletedProcess[str]:
        """Run the installed command in the home (``at``: its clock; ``code``: the exit code
        it must end with)."""
        env = self.env if at is None else {**self.env, "OSRS_NOTIFY_CLOCK": at.isoformat()}
        out = subprocess.run(
            [osrs_notify_command(), *args], cwd=self.home, env=env, capture_output=True,
            text=True, timeout=120,
        )
        both = out.stdout + out.stderr
        assert "Traceback" not in both, out.stderr
        assert self.discord.token(self.hook) not in both
        if code is not None:
            assert out.returncode == code, both
        return out

    def messages(self) -> list[Delivery]:
        return self.discord.messages_for(self.hook)

    def posted(self) -> list[str]:
        """Every message body Discord accepted, as JSON text."""
        return [json.dumps(m.body, ensure_ascii=False) for m in self.messages()]


@contextmanager
def world_at(home: Path, config: str = "", *, url_vars: tuple[str, ...] = ("CLAN_URL",)
             ) -> Iterator[World]:
    """The fakes running and ``home`` set up (``config`` written when given). Each of
    ``url_vars`` in ``.env`` holds the URL of a webhook of its own; the first is ``hook``."""
    hiscores = FakeHiscores()
    with FakeServer(hiscores) as server, FakeDiscord() as discord:
        hooks = [discord.add_webhook(name=var.lower()).id for var in url_vars]
        hook = hooks[0]
        (home / ".env").write_text("".join(
            f"{var}={discord.webhook_url(h)}\n" for var, h in zip(url_vars, hooks, strict=True)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_"))}
        env.update(
            OSRS_API_ENDPOINT=server.url,
            OSRS_NOTIFY_CONFIG=str(home / "osrs-notify.toml"),
            DISCORD_API_BASE=discord.api_base,
        )
        world = World(home, hiscores, discord, hook, env)
        if config:
            world.write_config(config)
        yield world
