"""Adding and removing ``[[players]]`` in the config file itself, keeping every comment and the
layout (`players add` / `players remove`).

tomlkit keeps a document's text as it was read, so only the edited table changes. Comments after
a table's last key belong to what follows it (the next ``[[players]]`` or section), not to the
table: they stay in place when a table is added after it or removed — so `remove` after `add`
gives back the original bytes. The edited text is loaded with the normal config loader before
it replaces the file (atomically), so an edit never leaves a config that does not load.

tomlkit costs ~25 ms to import: only these commands import this module.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Comment, Item, Table, Whitespace

from .names import normalize_name


class EditRefused(ValueError):
    """Why the config was left as it is, as one line for the user."""


def _trailing(table: Table) -> int:
    """Where the comments and blank lines after ``table``'s last key begin, in its body."""
    body = table.value.body
    end = len(body)
    while end > 0 and body[end - 1][0] is None and isinstance(body[end - 1][1],
                                                              (Comment, Whitespace)):
        end -= 1
    return end


def _lead(table: Table) -> int:
    """Where the comments about what follows ``table`` begin: after the blank lines that end
    the table itself (its trailing part up to the first comment)."""
    body = table.value.body
    i = _trailing(table)
    while i < len(body) and isinstance(body[i][1], Whitespace):
        i += 1
    return i


def _entries(doc: tomlkit.TOMLDocument) -> AoT | Array | None:
    players = doc.get("players")
    if players is None or isinstance(players, (AoT, Array)):
        return players
    raise EditRefused("`players` in this file is not a list of [[players]] tables")


def _names(entries: AoT | Array) -> list[str]:
    return [str(e.get("name", "")) if isinstance(e, Mapping) else "" for e in entries]


def add_player(
    text: str, name: str, *, mode: str | None = None, webhooks: Sequence[str] | None = None
) -> str:
    """``text`` with a ``[[players]]`` table for ``name`` after the last one (``mode`` and
    ``webhooks`` written only when given). Refused when the name is there already."""
    doc = tomlkit.parse(text)
    entries = _entries(doc)
    for existing in _names(entries) if entries is not None else []:
        if normalize_name(existing) == normalize_name(name):
            same = "" if existing == name else (
                " (names differing only in case, spaces, '-' or '_' are one player)")
            raise EditRefused(f"{existing!r} is in the config already{same}")
    table = tomlkit.table()
    table.add("name", name)
    if mode is not None:
        table.add("mode", mode)
    if webhooks is not None:
        table.add("webhooks", list(webhooks))
    if entries is None:
        doc.add("players", tomlkit.aot())
        entries = doc["players"]
        assert isinstance(entries, AoT)
    if isinstance(entries, Array):
        inline = tomlkit.inline_table()
        inline.update(table.value)
        entries.append(inline)
        return doc.as_string()
    if len(entries):
        last = entries[-1]
        body = last.value.body
        # The comments after the last table are about the next section: they move below the
        # new table, which takes the blank lines the last one ended with.
        start, lead = _trailing(last), _lead(last)
        moved = body[start:]
        del body[lead:]
        table.value.body.extend(moved)
    entries.append(table)
    return doc.as_string()


def remove_player(text: str, name: str) -> tuple[str, str]:
    """``text`` without ``name``'s table, and the name as the file wrote it. The comments
    after the table (about what follows it) stay where they were."""
    doc = tomlkit.parse(text)
    entries = _entries(doc)
    names = _names(entries) if entries is not None else []
    keys = [normalize_name(n) for n in names]
    if entries is None or normalize_name(name) not in keys:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EditRefused(f"{name!r} is not in the config{hint}")
    i = keys.index(normalize_name(name))
    if isinstance(entries, Array):
        del entries[i]
        return doc.as_string(), names[i]
    body = entries[i].value.body
    trailing, lead_in = body[_trailing(entries[i]):], body[_lead(entries[i]):]
    if lead_in:
        _keep_lead_in(doc, entries, i, trailing, lead_in)
    del entries[i]
    if not len(entries):
        del doc["players"]
    return doc.as_string(), names[i]


Trivia = list[tuple[Any, Item]]


def _keep_lead_in(doc: tomlkit.TOMLDocument, entries: AoT, i: int, trailing: Trivia,
                  lead_in: Trivia) -> None:
    """Give the comments after table ``i`` (``lead_in``, about what follows it, at the end of
    ``trailing``) to whatever comes before it, so they stay where they were."""
    if i > 0:
        before = entries[i - 1]
        # With comments of its own about table i, the blank lines between are kept too.
        has_lead = _lead(before) < len(before.value.body)
        before.value.body.extend(trailing if has_lead else lead_in)
    elif len(entries) > 1:
        # The first table: its comments are about the next one, whose header comes next.
        entries[1].value.body[0:0] = lead_in
    else:
        # The only table: the comments go to the table before the list, else the file's end.
        keys = list(doc.keys())
        at = keys.index("players")
        previous = doc[keys[at - 1]] if at > 0 else None
        if isinstance(previous, Table):
            previous.value.body.extend(trailing)
        elif isinstance(previous, AoT) and len(previous):
            previous[-1].value.body.extend(trailing)
        else:
            for _, item in lead_in:
                doc.add(item)


def write_checked(path: Path, text: str, check: Callable[[Path], object]) -> None:
    """Replace ``path`` by ``text`` atomically, once ``check`` (the config loader) accepted it
    as a file beside the original (so ``.env`` and relative paths mean the same); whatever
    ``check`` raises leaves the file untouched."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        check(Path(temp))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
