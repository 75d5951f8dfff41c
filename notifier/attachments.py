"""A message's body as Discord wants it: JSON, or multipart/form-data when it carries files.

Discord's form (https://discord.com/developers/docs/reference#uploading-files): a ``payload_json``
part holding the JSON body, and one ``files[n]`` part per file. The body's ``attachments`` list
names each file by ``id`` = n; on an edit that list is also the set of attachments the message
keeps, so listing only the new files replaces the old chart instead of adding a second one. An
embed shows an uploaded file with ``"image": {"url": "attachment://chart.png"}``.

The body is encoded once, to bytes, so a retry after a 429 sends exactly the same request.
This module imports nothing from ``poller``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from urllib3.filepost import encode_multipart_formdata

__all__ = ["MAX_ATTACHMENT", "Attachment", "encode_body"]

# Discord's upload limit per file for a webhook in a server without boosts: 10 MiB
# (it was 8 MiB until 2024; 25 MiB in between). Checked before sending: a 413 costs a request.
MAX_ATTACHMENT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """One file to upload. ``filename`` is what ``attachment://…`` refers to (letters, digits,
    ``.``, ``_`` and ``-`` only: Discord rewrites anything else and the reference then breaks)."""

    filename: str
    data: bytes
    content_type: str = "image/png"
    description: str | None = None  # alt text

    def __post_init__(self) -> None:
        if not self.filename or any(
            not (c.isascii() and (c.isalnum() or c in "._-")) for c in self.filename
        ):
            raise ValueError(f"attachment filename {self.filename!r}: use [A-Za-z0-9._-] only")

    @property
    def url(self) -> str:
        """What an embed's image or thumbnail url is set to, to show this file."""
        return f"attachment://{self.filename}"


def encode_body(body: Mapping[str, Any], files: Sequence[Attachment] = ()) -> tuple[bytes, str]:
    """(request body, Content-Type). Raises TypeError/ValueError when ``body`` is not JSON."""
    if not files:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return text.encode(), "application/json"
    payload = dict(body)
    if "attachments" not in payload:
        payload["attachments"] = [
            {"id": i, "filename": f.filename}
            | ({"description": f.description} if f.description else {})
            for i, f in enumerate(files)
        ]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    fields: list[tuple[str, Any]] = [("payload_json", text)]
    fields += [(f"files[{i}]", (f.filename, f.data, f.content_type)) for i, f in enumerate(files)]
    return encode_multipart_formdata(fields)
