"""Keeping secrets off screens and out of logs: database/Redis URLs shown without their password,
and a driver's error text scrubbed of it.

Webhook URLs and tokens are parsed and masked by :mod:`notifier.webhook`, which owns them (the
notifier imports nothing from ``poller``): its ``TokenMaskingFilter`` is the one log filter,
on the CLI's handler and on urllib3's loggers alike.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

_PASSWORD_IN_QUERY = re.compile(r"(?i)(\bpassword=)[^&\s]*")


def mask_dsn(url: str) -> str:
    """A database/Redis URL with any password replaced by ``****`` (in the authority or a
    ``?password=``), for display."""
    # Edited as text, not re-assembled by urllib, which would turn "sqlite:////abs" into
    # "sqlite://abs" (the masked URL must still read as the one the user wrote) and which
    # refuses some malformed URLs outright (their password must still be hidden).
    scheme, sep, rest = url.partition("://")
    if sep:
        ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
        end = min(ends, default=len(rest))
        authority, tail = rest[:end], rest[end:]
        if "@" in authority:
            userinfo, host = authority.rsplit("@", 1)
            if ":" in userinfo:
                authority = f"{userinfo.split(':', 1)[0]}:****@{host}"
        url = f"{scheme}{sep}{authority}{tail}"
    return _PASSWORD_IN_QUERY.sub(r"\1****", url)


def dsn_secrets(url: str) -> list[str]:
    """Every spelling of the URL's password (as written and percent-decoded), longest first."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    except ValueError:
        pass
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error message) with the password of ``url`` replaced by ``****``."""
    for secret in dsn_secrets(url):
        text = text.replace(secret, "****")
    return text
