"""poller.config_edit: [[players]] added and removed in a TOML text, every comment kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from poller.config_edit import EditRefused, add_player, remove_player

from support import TOKEN, cli_in_a_fresh_process

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HEAD = 'database = "sqlite:///x.db"\n\n[poll]\nretries = 0\n\n# The players:\n'
A = '[[players]]\nname = "Alpha"   # the founder\nmode = "ironman"\n\n'
B_NOTE = "# Bravo's alt is below\n"
B = '[[players]]\nname = "Bravo"\n\n'
TAIL = "# price alerts\n[[watch]]\nitem = \"Twisted bow\"\nabove = 1\n"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        pytest.param(HEAD + A + B + TAIL, "Bravo", HEAD + A + TAIL, id="the last"),
        pytest.param(HEAD + A + B + TAIL, "alpha", HEAD + B + TAIL, id="the first"),
        pytest.param(HEAD + A + B_NOTE + B + TAIL, "Bravo", HEAD + A + B_NOTE + "\n" + TAIL,
                     id="the last, after a comment about it"),
        pytest.param(HEAD + A + TAIL, "Alpha", HEAD + "\n" + TAIL, id="the only one"),
        pytest.param('players = [{ name = "Alpha" }, { name = "Bravo" }]\n' + HEAD, "Alpha",
                     'players = [{ name = "Bravo" }]\n' + HEAD, id="an inline array"),
    ],
)
def test_remove_keeps_the_comments_that_are_not_the_tables(
    text: str, name: str, expected: str
) -> None:
    got, _ = remove_player(text, name)
    assert got == expected
    tomllib.loads(got)


@pytest.mark.parametrize(
    "text",
    [HEAD + A + B + TAIL, HEAD + A + B_NOTE + B + TAIL, HEAD + A + B, HEAD + A + B + "\n# end\n"],
)
def test_remove_after_add_gives_back_the_original(text: str) -> None:
    added = add_player(text, "Charlie", mode="hardcore", webhooks=["clan"])
    assert tomllib.loads(added)["players"][-1] == {
        "name": "Charlie", "mode": "hardcore", "webhooks": ["clan"]}
    assert remove_player(added, "charlie") == (text, "Charlie")


def test_add_to_a_file_without_players() -> None:
    added = add_player(HEAD, "Charlie")
    assert tomllib.loads(added)["players"] == [{"name": "Charlie"}]
    assert added.startswith(HEAD)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda t: add_player(t, "bravo"), "'Bravo' is in the config already (names differing"),
        (lambda t: add_player(t, "Bravo"), "'Bravo' is in the config already"),
        (lambda t: remove_player(t, "Brav0"), "'Brav0' is not in the config; did you mean Bravo?"),
        (lambda t: remove_player(t, "Zulu"), "'Zulu' is not in the config"),
    ],
)
def test_refusals(edit, says: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EditRefused) as caught:
        edit(HEAD + A + B + TAIL)
    assert str(caught.value).startswith(says)


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["poll"], False),
        (["players", "list"], False),
        (["players", "add", "Bob", "--offline"], True),
    ],
)
def test_only_the_editing_commands_import_tomlkit(
    tmp_path: Path, argv: list[str], loaded: bool
) -> None:
    hook = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"
    result = cli_in_a_fresh_process(tmp_path, argv, watched="tomlkit", hook=hook)
    assert result == {"code": 0, "loaded": loaded}
