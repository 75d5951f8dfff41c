"""osrs-notify: watch OSRS hiscores and the Grand Exchange, tell Discord what happened."""

__version__ = "0.1.0"
