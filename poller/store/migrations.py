"""Versioned schema: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``.

Rules for adding one: append, never edit or reorder (a deployed database has already run every
step before it); write the DDL as it is *then*, not by asking today's models (a step must mean
the same thing forever); keep it runnable on SQLite and PostgreSQL. Each step runs in its own
transaction together with the version bump, so a failure leaves the database at the last good
version. Tests patch ``poller.store.migrations.MIGRATIONS`` (read at call time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from .backend import is_disk_full
from .orm import pw
from .values import StoreError

Migration = Callable[[pw.Database], None]

SCHEMA_KEY = "schema_version"


def _is_pg(db: pw.Database) -> bool:
    return isinstance(db, pw.PostgresqlDatabase)


def _v1_initial(db: pw.Database) -> None:
    """Players, snapshots, events, the delivery outbox and anomalies."""
    pg = _is_pg(db)
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"  # SQLite: the rowid
    ref = "BIGINT" if pg else "INTEGER"
    blob = "BYTEA" if pg else "BLOB"
    # SQLite cannot add a constraint later, PostgreSQL cannot reference a table that does not
    # exist yet: player ↔ snapshot point at each other, so each gets the FK its own way.
    last_snapshot_fk = "" if pg else " REFERENCES snapshot (id)"
    statements = [
        'CREATE TABLE meta ("key" TEXT PRIMARY KEY, value TEXT NOT NULL)',
        f"""CREATE TABLE player (
            id {pk},
            "key" TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            mode TEXT NOT NULL,
            active BOOLEAN NOT NULL,
            created_at TIMESTAMP NOT NULL,
            last_polled_at TIMESTAMP,
            last_changed_at TIMESTAMP,
            last_snapshot_id {ref}{last_snapshot_fk},
            reference {blob},
            status TEXT NOT NULL,
            not_found_streak INTEGER NOT NULL,
            last_error TEXT,
            renamed_to TEXT)""",
        f"""CREATE TABLE snapshot (
            id {pk},
            player_id {ref} NOT NULL REFERENCES player (id),
            taken_at TIMESTAMP NOT NULL,
            data {blob} NOT NULL)""",
        "CREATE INDEX snapshot_player_taken ON snapshot (player_id, taken_at)",
        f"""CREATE TABLE event (
            id {pk},
            player_id {ref} REFERENCES player (id),
            snapshot_id {ref} REFERENCES snapshot (id),
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
        "CREATE INDEX event_player ON event (player_id, id)",
        f"""CREATE TABLE delivery (
            id {pk},
            event_id {ref} NOT NULL REFERENCES event (id),
            webhook TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP NOT NULL,
            last_error TEXT,
            created_at TIMESTAMP NOT NULL,
            sent_at TIMESTAMP,
            lease_until TIMESTAMP)""",
        "CREATE INDEX delivery_status_due ON delivery (status, next_attempt_at)",
        "CREATE INDEX delivery_event ON delivery (event_id)",
        f"""CREATE TABLE anomaly (
            id {pk},
            player_id {ref} NOT NULL REFERENCES player (id),
            taken_at TIMESTAMP NOT NULL,
            metric TEXT NOT NULL,
            "old" BIGINT NOT NULL,
            "new" BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL,
            reviewed BOOLEAN NOT NULL)""",
        "CREATE INDEX anomaly_player ON anomaly (player_id, taken_at)",
    ]
    if pg:
        statements.append(
            "ALTER TABLE player ADD CONSTRAINT player_last_snapshot_fk "
            "FOREIGN KEY (last_snapshot_id) REFERENCES snapshot (id)"
        )
    for sql in statements:
        db.execute_sql(sql)


def _v2_delivery_state(db: pw.Database) -> None:
    """Webhook state (disabled after 404/401, until its URL changes) and every send attempt."""
    pg = _is_pg(db)
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    ref = "BIGINT" if pg else "INTEGER"
    for sql in (
        """CREATE TABLE webhook_state (
            name TEXT PRIMARY KEY,
            disabled BOOLEAN NOT NULL,
            reason TEXT,
            address_hash TEXT,
            changed_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE attempt (
            id {pk},
            webhook TEXT NOT NULL,
            at TIMESTAMP NOT NULL,
            outcome TEXT NOT NULL,
            status_code INTEGER,
            error TEXT,
            elapsed_ms INTEGER NOT NULL,
            deliveries INTEGER NOT NULL,
            first_delivery_id {ref})""",
        "CREATE INDEX attempt_webhook_at ON attempt (webhook, at)",
    ):
        db.execute_sql(sql)


def _v3_prices(db: pw.Database) -> None:
    """Grand Exchange: the item database (from the Wiki's /mapping), compact price samples of
    watched items, and each watch's alert state (armed flags, cooldown)."""
    pg = _is_pg(db)
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    for sql in (
        """CREATE TABLE item (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            members BOOLEAN NOT NULL,
            buy_limit INTEGER,
            value INTEGER,
            highalch INTEGER,
            lowalch INTEGER,
            icon TEXT,
            examine TEXT,
            updated_at TIMESTAMP NOT NULL)""",
        "CREATE INDEX item_name_key ON item (name_key)",
        f"""CREATE TABLE price_sample (
            id {pk},
            item_id INTEGER NOT NULL,
            at TIMESTAMP NOT NULL,
            high BIGINT,
            low BIGINT,
            average BIGINT)""",
        "CREATE INDEX price_sample_item_at ON price_sample (item_id, at)",
        """CREATE TABLE watch_state (
            "key" TEXT PRIMARY KEY,
            item_id INTEGER NOT NULL,
            state TEXT NOT NULL,
            updated_at TIMESTAMP NOT NULL)""",
    ):
        db.execute_sql(sql)


def _v4_runs_and_leases(db: pw.Database) -> None:
    """Run metrics (for `stats` and Prometheus) and leases so several `run` processes on one
    PostgreSQL database claim players and deliveries without doing anything twice."""
    pg = _is_pg(db)
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    for sql in (
        f"""CREATE TABLE run (
            id {pk},
            kind TEXT NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL,
            host TEXT,
            metrics TEXT NOT NULL)""",
        "CREATE INDEX run_started ON run (started_at)",
        "ALTER TABLE player ADD COLUMN lease_until TIMESTAMP",
        "ALTER TABLE player ADD COLUMN lease_owner TEXT",
        "ALTER TABLE delivery ADD COLUMN lease_owner TEXT",
    ):
        db.execute_sql(sql)


def _v5_anomaly_reason(db: pw.Database) -> None:
    """Why an anomaly was recorded: a rollback, or the reason a snapshot was refused."""
    db.execute_sql("ALTER TABLE anomaly ADD COLUMN reason TEXT")


def _v6_posts(db: pw.Database) -> None:
    """Scheduled posts (digests, later competitions): one row per report, period and webhook.

    The unique key is what makes a period's post happen once however many processes share
    the database; a live post keeps its Discord message id to be edited in place."""
    pg = _is_pg(db)
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    blob = "BYTEA" if pg else "BLOB"
    db.execute_sql(f"""CREATE TABLE post (
        id {pk},
        topic TEXT NOT NULL,
        period TEXT NOT NULL,
        webhook TEXT NOT NULL,
        final BOOLEAN NOT NULL,
        body TEXT NOT NULL,
        chart {blob},
        content_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        message_id TEXT,
        attempts INTEGER NOT NULL,
        next_attempt_at TIMESTAMP NOT NULL,
        last_error TEXT,
        created_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP,
        lease_owner TEXT,
        lease_until TIMESTAMP,
        UNIQUE (topic, period, webhook))""")
    db.execute_sql("CREATE INDEX post_status_due ON post (status, next_attempt_at)")


def _v7_competitions(db: pw.Database) -> None:
    """Competitions: each round as first materialised (its metrics, chosen once even when
    random), each participant's start snapshot recorded at the start poll, and the final
    standings kept for history."""
    pg = _is_pg(db)
    ref = "BIGINT" if pg else "INTEGER"
    for sql in (
        """CREATE TABLE competition_round (
            competition TEXT NOT NULL,
            round TEXT NOT NULL,
            metrics TEXT NOT NULL,
            starts_at TIMESTAMP NOT NULL,
            ends_at TIMESTAMP NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (competition, round))""",
        f"""CREATE TABLE competition_entry (
            competition TEXT NOT NULL,
            round TEXT NOT NULL,
            player_id {ref} NOT NULL REFERENCES player (id),
            snapshot_id {ref} NOT NULL REFERENCES snapshot (id),
            recorded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (competition, round, player_id))""",
        """CREATE TABLE competition_result (
            competition TEXT NOT NULL,
            round TEXT NOT NULL,
            player TEXT NOT NULL,
            rank INTEGER NOT NULL,
            gain BIGINT NOT NULL,
            PRIMARY KEY (competition, round, player))""",
    ):
        db.execute_sql(sql)


def _v8_account_type(db: pw.Database) -> None:
    """The account type ``mode = "auto"`` detected from the boards, and when it was settled."""
    db.execute_sql("ALTER TABLE player ADD COLUMN account_type TEXT")
    db.execute_sql("ALTER TABLE player ADD COLUMN account_type_at TIMESTAMP")


MIGRATIONS: list[Migration] = [
    _v1_initial, _v2_delivery_state, _v3_prices, _v4_runs_and_leases, _v5_anomaly_reason,
    _v6_posts, _v7_competitions, _v8_account_type,
]


def current_version() -> int:
    return len(MIGRATIONS)


def schema_version(db: pw.Database) -> int:
    """The version recorded in ``meta``; 0 for a database this program never touched."""
    if not db.table_exists("meta"):
        return 0
    row = db.execute_sql(
        f'SELECT value FROM meta WHERE "key" = {db.param}', (SCHEMA_KEY,)
    ).fetchone()
    return int(row[0]) if row else 0


def _foreign_tables(db: pw.Database) -> list[str]:
    """Tables in a database (PostgreSQL: in the current schema) without our schema marker.

    Only a database with no tables at all is taken for a new one. Anything else belongs to
    another program, or is ours with its ``meta`` row lost: creating our tables among its
    tables would mix two programs' data, and treating ours as new would baseline every player
    again, silently.
    """
    return [t for t in db.get_tables() if not t.startswith("sqlite_")]  # SQLite's own tables


def _not_ours(db: pw.Database, where: str, tables: list[str]) -> StoreError:
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    if _is_pg(db):
        schema = db.execute_sql("SELECT current_schema()").fetchone()[0]
        return StoreError(
            f"database {where} is not an osrs-notify database: schema {schema!r} has tables "
            f"({shown}) but no osrs-notify schema marker; use a database of its own, or an "
            "empty schema (CREATE SCHEMA osrs, then add ?options=-c%20search_path%3Dosrs to "
            "the URL)"
        )
    return StoreError(
        f"database {where} is not an osrs-notify database: it has tables ({shown}) but no "
        "osrs-notify schema marker; point the database setting at a file of its own (a new "
        "path is created)"
    )


def _set_version(db: pw.Database, version: int) -> None:
    p, value = db.param, str(version)
    cur = db.execute_sql(f'UPDATE meta SET value = {p} WHERE "key" = {p}', (value, SCHEMA_KEY))
    if cur.rowcount == 0:
        db.execute_sql(f'INSERT INTO meta ("key", value) VALUES ({p}, {p})', (SCHEMA_KEY, value))


def advisory_key(text: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks (Python's hash() is salted)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _serialise(db: pw.Database) -> None:
    """Inside the step's transaction: make concurrent openers take turns.

    SQLite transactions already begin IMMEDIATE (one writer at a time). PostgreSQL DDL does not
    block a second migrator by itself, so take a transaction-scoped advisory lock per schema.
    """
    if _is_pg(db):
        schema = db.execute_sql("SELECT current_schema()").fetchone()[0]
        db.execute_sql(
            "SELECT pg_advisory_xact_lock(%s)", (advisory_key(f"osrs-notify:migrate:{schema}"),)
        )


def _newer(version: int, target: int, where: str) -> StoreError:
    return StoreError(
        f"database {where} has schema version {version}, created by a newer osrs-notify "
        f"(this one knows up to {target}): upgrade osrs-notify"
    )


def migrate(db: pw.Database, where: str) -> int:
    """Bring the schema up to date; returns the version now in place.

    ``where`` is the masked URL for messages. The common case (already current) costs one query.
    """
    steps = MIGRATIONS
    target = len(steps)
    version = schema_version(db)
    if version > target:
        raise _newer(version, target, where)
    while version < target:
        with db.atomic():
            _serialise(db)
            # Re-read under the lock: another process may have migrated while we waited.
            version = schema_version(db)
            if version > target:
                raise _newer(version, target, where)
            if version == target:
                break
            if version == 0:
                # Decided under the lock: another osrs-notify may be creating this very
                # database, and its first step (which writes the marker) is then committed.
                tables = _foreign_tables(db)
                if tables:
                    raise _not_ours(db, where, tables)
            step = steps[version]
            try:
                step(db)
            except pw.PeeweeException as exc:
                if is_disk_full(exc):
                    raise  # open_store names the full disk and what to do about it
                raise StoreError(
                    f"upgrading database {where} to schema version {version + 1} failed: "
                    f"{' '.join(str(exc).split())}"
                ) from exc
            _set_version(db, version + 1)
        version += 1
    return version
