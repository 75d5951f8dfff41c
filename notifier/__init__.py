"""Discord delivery: events as plain data in, webhook messages out. Imports nothing from poller."""
