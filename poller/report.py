"""What the commands print: tables and summaries for people, dicts for `--json`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from . import game
from .snapshot import OVERALL, Snapshot

if TYPE_CHECKING:
    from .deliver import DeliveryReport
    from .pipeline import RunReport
    from .renames import Decision
    from .settings import Settings
    from .store import Store


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Collection[int] = ()
) -> str:
    """A plain aligned table; columns in ``right`` are right-aligned (numbers)."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


# -- poll ----------------------------------------------------------------------------------------


def print_poll_report(report: RunReport, settings: Settings) -> None:
    from notifier.text import event_line, render_text

    took = (report.finished_at - report.started_at).total_seconds()
    counts = Counter(r.outcome for r in report.results)
    order = (
        "changed", "unchanged", "baseline", "anomaly", "new_account", "not_found",
        "unavailable", "invalid",
    )
    summary = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in order if counts[k])
    verb = "Would poll" if report.dry_run else "Polled"
    click.echo(f"{verb} {len(report.results)} player(s) in {took:.1f}s: {summary or 'nothing'}")
    # A name carried over is said once, as a rename, not as one added and one removed.
    carried = {n for d in report.renames if d.kind == "renamed" for n in (d.old, d.new)}
    added = [n for n in report.added_players if n not in carried]
    removed = [n for n in report.removed_players if n not in carried]
    if added:
        click.echo(f"New in the config (silent baseline): {', '.join(added)}")
    if removed:
        click.echo(f"No longer in the config (history kept): {', '.join(removed)}")
    for line in rename_lines(report.renames, dry_run=report.dry_run):
        click.echo(line)

    if report.dry_run:
        by_hook: dict[str, list[str]] = {}
        unrouted: list[str] = []
        for r in report.results:
            for q in r.queued:
                line = render_text(q.notice)
                for hook in q.webhooks:
                    by_hook.setdefault(hook, []).append(line)
                if not q.webhooks:
                    unrouted.append(line)
        if not by_hook and not unrouted:
            click.echo("Nothing would be sent.")
        for hook, lines in by_hook.items():
            known = settings.webhooks.get(hook)
            held = "; no URL yet: held until it is set" if known and not known.configured else ""
            click.echo(f"\nWould send to webhook {hook!r} ({len(lines)} event(s){held}):")
            for line in lines:
                click.echo(f"  {line}")
        if unrouted:
            click.echo(f"\nNo webhook takes these ({len(unrouted)}):")
            for line in unrouted:
                click.echo(f"  {line}")
    else:
        for r in report.results:
            if r.queued:
                click.echo(f"  {r.name}: " + "; ".join(event_line(q.notice) for q in r.queued))
        if report.events_added:
            click.echo(
                f"{report.events_added} event(s) stored, {report.deliveries_added} "
                "webhook deliveries queued."
            )
    for r in report.results:
        if r.note:
            click.echo(f"  {r.name}: {r.note}", err=True)
        if r.error and r.outcome != "not_found":
            click.echo(f"  {r.name}: {r.error}", err=True)
        elif r.error:
            click.echo(f"  {r.name}: {r.error}")


def rename_lines(decisions: Sequence[Decision], *, dry_run: bool = False) -> list[str]:
    """What the rename check made of each new name (see :mod:`poller.renames`)."""
    lines = []
    for d in decisions:
        if d.kind == "renamed":
            done = "would carry" if dry_run else "history carried over, announced once"
            lines.append(f"Renamed: {d.old} → {d.new} (the stats continue; {done})")
        elif d.kind == "respelled":
            lines.append(f"Display name now {d.new} (was {d.old}; {d.reason})")
        else:
            lines.append(f"{d.new} starts from a fresh baseline, not as a renamed player: "
                         f"{d.reason}")
    return lines


def delivery_lines(report: DeliveryReport) -> list[tuple[str, bool]]:
    """The status lines of a delivery run, each with whether it goes to stderr: what was done,
    then what still waits, why, until when, and the command that sends it now."""
    from .delivery_status import RETRY_FAILED, SEND_NOW, lease_holder, until_text

    now = report.finished_at or report.started_at
    assert now is not None
    lines: list[tuple[str, bool]] = []
    for name, dropped in report.dropped.items():
        lines.append((f"Webhook {name!r} is no longer in the config: its {dropped} unsent "
                      "message(s) were dropped.", True))
    for owner, freed in report.taken_over.items():
        lines.append((f"Took over {freed} message(s) leased by {owner}, which is no longer "
                      "running.", False))
    for w in report.webhooks.values():
        if w.disabled:
            lines.append((f"Webhook {w.name!r} is DISABLED ({w.disabled}): {w.held} message(s) "
                          "held; paste a new URL for it and they will be sent.", True))
        elif w.skipped:
            lines.append((f"Webhook {w.name!r} {w.skipped}: {w.held} message(s) held; they "
                          "will be sent once it is set.", True))
        parts = []
        if w.delivered:
            parts.append(f"{w.delivered} event(s) delivered in {w.messages_sent} message(s)")
        if w.retrying:
            parts.append(f"{w.retrying} kept for retry")
        if w.failed:
            parts.append(f"{w.failed} refused by Discord")
        if w.paused:
            parts.append("paused by Discord's rate limit"
                         + (f" ({w.pause_error})" if w.pause_error else ""))
        if parts:
            lines.append((f"Webhook {w.name!r}: " + ", ".join(parts), w.troubled))
        lines += [(f"  {w.name}: {error}", True) for error in w.errors[:3]]
    for name, b in report.backlog.items():
        hook = f"Webhook {name!r}"
        if b.due and report.paused_until is None:
            lines.append((f"{hook}: {b.due} message(s) due, left for the next run.", False))
        if b.backoff and b.backoff_until is not None:
            why = f" (last error: {b.backoff_error})" if b.backoff_error else ""
            lines.append((f"{hook}: {b.backoff} message(s) wait out a retry back-off until "
                          f"{until_text(b.backoff_until, now)}{why}; `{SEND_NOW}` sends them "
                          "now.", False))
        for lease in b.leased:
            until = until_text(lease.until, now)
            holder = lease_holder(lease.owner)
            if holder == "gone":
                lines.append((f"{hook}: {lease.count} message(s) are leased until {until} by "
                              f"{lease.owner}, which is no longer running; `{SEND_NOW}` sends "
                              "them now, else they go out after that.", True))
            elif holder == "alive":
                lines.append((f"{hook}: {lease.count} message(s) are being sent by "
                              f"{lease.owner} (leased until {until}).", False))
            else:
                lines.append((f"{hook}: {lease.count} message(s) are leased until {until} by "
                              f"{lease.owner} on another host: it sends them, or the first run "
                              "after that time does.", False))
        if b.failed:
            why = f" ({b.failed_error})" if b.failed_error else ""
            lines.append((f"{hook}: {b.failed} message(s) failed, refused by Discord{why}; "
                          f"fix the cause, then `{RETRY_FAILED}` sends them again.", True))
    if report.paused_until is not None:
        why = f": {report.pause_reason}" if report.pause_reason else ""
        lines.append((f"Discord paused all sending until {until_text(report.paused_until, now)}"
                      f"{why}; {report.waiting} message(s) wait and go out on the first run "
                      "after that.", True))
    return lines


def print_delivery_report(report: DeliveryReport, *, idle_line: bool = False) -> None:
    """What was sent, then what still waits and why; problems on stderr. ``idle_line``
    (`deliver`): say "Nothing pending." when nothing waits at all."""
    lines = delivery_lines(report)
    if idle_line and not report.waiting and report.paused_until is None and not any(
        w.delivered or w.troubled for w in report.webhooks.values()
    ):
        click.echo("Nothing pending.")
    for text, to_stderr in lines:
        click.echo(text, err=to_stderr)


# -- lookup --------------------------------------------------------------------------------------


def lookup_json(
    name: str, mode: str, snapshot: Snapshot, *, detected: bool = False
) -> dict[str, object]:
    """``mode``: the board read; ``detected``: whether it is the account type found by
    ``auto`` (then also ``account_type``)."""
    levels = game.levels_from_snapshot(snapshot)
    known = {k: v for k, v in levels.items() if v is not None}
    return {
        "player": name,
        "mode": mode,
        "account_type": mode if detected else None,
        "combat_level": game.combat_level(known),
        "total_level": snapshot.overall_level,
        "overall_xp": snapshot.overall_xp,
        "skills": {
            skill: {
                "level": levels.get(skill),
                "xp": snapshot.xp(skill),
                "rank": snapshot.ranks.get(skill),
            }
            for skill in game.SKILLS
        },
        "activities": {
            activity: {
                "score": score,
                "rank": snapshot.ranks.get(activity),
                "category": game.category(activity).value,
            }
            for activity, score in sorted(
                snapshot.activities.items(), key=lambda kv: _activity_order(kv[0])
            )
        },
    }


def _activity_order(name: str) -> int:
    order = list(game.ACTIVITIES)
    return order.index(name) if name in game.ACTIVITIES else len(order)


def _num(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def print_lookup(name: str, mode: str, snapshot: Snapshot, *, detected: bool = False) -> None:
    data = lookup_json(name, mode, snapshot, detected=detected)
    shown = f"{mode}, detected" if detected else mode
    click.echo(
        f"{name} ({shown}) — combat {data['combat_level']}, total level "
        f"{_num(snapshot.overall_level)}, {_num(snapshot.overall_xp)} XP"
    )
    rows = [[OVERALL, _num(snapshot.overall_level), _num(snapshot.overall_xp),
             _num(snapshot.ranks.get(OVERALL))]]
    for skill, v in data["skills"].items():  # type: ignore[union-attr]
        rows.append([skill, _num(v["level"]), _num(v["xp"]), _num(v["rank"])])
    click.echo(table(["Skill", "Level", "XP", "Rank"], rows, right={1, 2, 3}))
    acts = data["activities"]
    if acts:
        click.echo("")
        arows = [[a, v["category"], _num(v["score"]), _num(v["rank"])] for a, v in acts.items()]  # type: ignore[union-attr]
        click.echo(table(["Boss / activity", "Kind", "Score", "Rank"], arows, right={2, 3}))
    else:
        click.echo("\nNo boss or activity ranked yet.")


# -- players list --------------------------------------------------------------------------------


def player_rows(settings: Settings, store: Store) -> list[dict[str, object]]:
    """Configured players first (in config order), then those only the database remembers."""
    from .names import normalize_name

    states = {normalize_name(p.name): p for p in store.all_players()}
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for p in settings.players:
        key = normalize_name(p.name)
        seen.add(key)
        st = states.get(key)
        never = st is None or st.last_polled_at is None
        rows.append(_row(p.name, p.mode, st, "never polled" if never else None))
    # Names the config still reaches through `players rename` (polled, not removed).
    followed: set[str] = set()
    for start in seen:
        at, hops = start, set()
        while (st := states.get(at)) is not None and st.renamed_to and at not in hops:
            hops.add(at)
            at = normalize_name(st.renamed_to)
            followed.add(at)
    for key, st in states.items():
        if key not in seen:
            rows.append(_row(st.name, st.mode, st, None if key in followed else
                             "removed from config"))
    return rows


def _row(name: str, mode: str, st: object, override: str | None) -> dict[str, object]:
    status = override or getattr(st, "status", "ok")
    streak = getattr(st, "not_found_streak", 0)
    if getattr(st, "renamed_to", None):
        status = f"renamed to {st.renamed_to}"  # type: ignore[attr-defined]
    elif getattr(st, "status", "ok") == "missing":
        status = f"missing ({streak} not-found polls in a row)"
    elif streak and not override and getattr(st, "last_snapshot", None) is None:
        status = f"never found in {streak} poll(s): check the name and mode"
    elif streak and not override:
        status = f"not found {streak}× (not yet called missing)"
    return {
        "name": name,
        "mode": mode,
        # What ``mode = "auto"`` last found, and when (None: not yet).
        "account_type": getattr(st, "account_type", None),
        "account_type_at": getattr(st, "account_type_at", None),
        "status": status,
        "last_polled": getattr(st, "last_polled_at", None),
        "last_change": getattr(st, "last_changed_at", None),
        "last_error": getattr(st, "last_error", None),
    }


def _mode(row: dict[str, object]) -> str:
    """"auto: hardcore" for a detected type, "auto: not yet detected", or the mode set."""
    if row["mode"] != "auto":
        return str(row["mode"])
    return f"auto: {row['account_type'] or 'not yet detected'}"


def print_players(rows: list[dict[str, object]]) -> None:
    from .clock import utcnow

    now = utcnow()
    if not rows:
        click.echo("No players configured.")
        return
    click.echo(
        table(
            ["Player", "Mode", "Status", "Last polled", "Last change"],
            [
                [r["name"], _mode(r), r["status"], _ago(r["last_polled"], now),  # type: ignore[arg-type]
                 _ago(r["last_change"], now)]  # type: ignore[arg-type]
                for r in rows
            ],
        )
    )
