"""Importing a library without the optional extras it would load eagerly.

Some libraries import every optional client they find installed (peewee: database drivers;
requests-cache: redis, pymongo, boto3). A cron run pays for each one. Marking them missing for
the duration of the import makes the library record "not installed"; importing them later
still works, and if the library was already imported this changes nothing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from types import ModuleType


def import_without(module: str, optional: Iterable[str]) -> ModuleType:
    """``import module`` with ``optional`` modules (not yet loaded) hidden while it loads."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded
    hidden = [name for name in optional if name not in sys.modules]
    for name in hidden:
        # A None entry makes "import name" raise ImportError without touching the disk.
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(module)
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
