"""The OSRS Wiki's addresses: where its pictures and its item price pages live.

The one home of both (the skill/boss pictures of :mod:`poller.wiki_images` and the item pictures
of :mod:`poller.items` are the same Wiki's files); the notifier gets finished URLs in the notice.
"""

from __future__ import annotations

from urllib.parse import quote

WIKI_IMAGES = "https://oldschool.runescape.wiki/images/"
PRICES_ITEM_PAGE = "https://prices.runescape.wiki/osrs/item/"


def image_url(file_name: str) -> str:
    """A Wiki file's URL as MediaWiki writes it: spaces as underscores, the apostrophe
    escaped (``"Kree'arra.png"`` → ``…/images/Kree%27arra.png``), brackets kept."""
    return WIKI_IMAGES + quote(file_name.strip().replace(" ", "_"), safe="_-.()")


def item_page_url(item_id: int) -> str:
    """The item's page on the Wiki's real-time prices site."""
    return f"{PRICES_ITEM_PAGE}{item_id}"
