"""Run metrics: percentiles, what a run is measured as, the store's runs and totals, the
Prometheus text format (checked by a small parser of the exposition format), and `stats` /
`--metrics-file` through the CLI with `responses`-mocked hiscores and Discord."""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses

from poller import game
from poller.deliver import DeliveryReport, WebhookReport
from poller.http import HttpStats
from poller.metrics import RunMetrics, Summary, collect, percentile
from poller.pipeline import PlayerResult, RunReport
from poller.prometheus import render_prometheus, write_text_atomically
from poller.run_log import export, latest, record_run
from poller.store import open_store

from support import TOKEN, Fakes, Run, cli_in_a_fresh_process

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)

# -- percentiles ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0.5) == pytest.approx(2.5)
    assert percentile(values, 0.95) == pytest.approx(3.85)
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 4.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile(values, 95)


def test_percentile_of_1_to_100() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)


def test_summary_keeps_sum_and_count_for_prometheus() -> None:
    s = Summary.of([0.1, 0.2, 0.3])
    assert (s.p50, s.p95, s.sum, s.count) == (0.2, 0.29, 0.6, 3)
    assert Summary.of([]) == Summary()
    assert Summary.from_json(s.to_json()) == s


# -- measuring a run ------------------------------------------------------------------------------


def _report(*outcomes: str, events: int = 0) -> RunReport:
    results = tuple(PlayerResult(f"p{i}", o) for i, o in enumerate(outcomes))  # type: ignore[arg-type]
    return RunReport(T0, T0 + timedelta(seconds=2), results, events_added=events)


def _delivery() -> DeliveryReport:
    report = DeliveryReport(started_at=T0 + timedelta(seconds=2))
    clan = report.hook("clan")
    clan.messages_sent, clan.delivered = 2, 3
    clan.outcomes = {"sent": 2, "retry": 1}
    clan.latencies = [1.0, 2.0, 3.0]
    report.webhooks["gone"] = WebhookReport("gone", skipped="not in the config")
    report.webhooks["dead"] = WebhookReport("dead", disabled="Unknown Webhook")
    return report


def test_collect_counts_players_errors_latencies_and_cache_ratio() -> None:
    http = HttpStats(cache_hits=1, requests_made=3, latencies=(0.1, 0.3, 0.2))
    m = collect(
        "poll", report=_report("changed", "unchanged", "unavailable", "not_found", "changed"),
        delivery=_delivery(), http=http, finished=T0 + timedelta(seconds=5), host="box",
        extra_errors={"redis": 1},
    )
    assert m.duration == 5.0
    assert m.players == {"changed": 2, "unchanged": 1, "unavailable": 1, "not_found": 1}
    assert m.players_polled == 5
    assert m.cache_hit_ratio == 0.25
    assert (m.api_latency.p50, m.api_latency.count) == (0.2, 3)
    assert (m.messages_sent, m.deliveries_sent) == (2, 3)
    assert m.delivery_latency.p50 == 2.0 and m.delivery_latency.p95 == pytest.approx(2.9)
    assert m.errors == {
        "unavailable": 1, "not_found": 1, "discord_retry": 1, "webhook_skipped": 1,
        "webhook_disabled": 1, "redis": 1,
    }
    totals = m.totals()
    assert totals["runs_total:kind=poll"] == 1
    assert totals["players_polled_total:outcome=changed"] == 2
    assert totals["errors_total:error=discord_retry"] == 1
    assert "events_derived_total" not in totals  # zero increments are left out


def test_collect_without_requests_has_no_cache_ratio_and_takes_the_delivery_start() -> None:
    m = collect("deliver", delivery=_delivery(), finished=T0 + timedelta(seconds=3))
    assert m.cache_hit_ratio is None and m.players == {}
    assert m.started_at == T0 + timedelta(seconds=2) and m.duration == 1.0


def test_a_job_that_worked_in_batches_passes_all_its_reports() -> None:
    second = RunReport(T0 - timedelta(seconds=1), T0, (PlayerResult("x", "changed"),),
                       events_added=1)
    m = collect("hiscores", report=[_report("changed", "invalid"), second],
                delivery=[_delivery(), _delivery()], finished=T0 + timedelta(seconds=5))
    assert m.players == {"changed": 2, "invalid": 1} and m.errors["invalid"] == 1
    assert m.started_at == T0 - timedelta(seconds=1)  # the earliest start
    assert (m.messages_sent, m.deliveries_sent, m.delivery_latency.count) == (4, 6, 6)
    assert m.errors["discord_retry"] == 2 and m.events_stored == 1


def test_collect_refuses_a_bad_kind() -> None:
    with pytest.raises(ValueError):
        collect("Poll Run")


def test_metrics_survive_a_round_trip_through_json() -> None:
    m = collect("poll", report=_report("changed"), delivery=_delivery(),
                http=HttpStats(0, 2, (0.5, 0.7)), finished=T0 + timedelta(seconds=9), host="h")
    back = RunMetrics.from_row("poll", m.started_at, m.finished_at, "h",
                               json.loads(json.dumps(m.to_json())))
    assert back == m


# -- the store ------------------------------------------------------------------------------------


def test_store_keeps_runs_newest_first_prunes_old_ones_and_totals_keep_counting() -> None:
    store = open_store("sqlite:///:memory:")
    old = collect("poll", report=_report("changed"), started=T0 - timedelta(days=40),
                  finished=T0 - timedelta(days=40))
    record_run(store, "poll", report=_report("changed"), started=old.started_at,
               finished=old.finished_at)
    record_run(store, "deliver", delivery=_delivery(), finished=T0 + timedelta(seconds=3))
    record_run(store, "poll", report=_report("changed", "unavailable", events=2),
               started=T0 + timedelta(seconds=3), finished=T0 + timedelta(seconds=4))

    rows = store.runs.recent(10)
    assert [r.kind for r in rows] == ["poll", "deliver"]  # the 40-day-old row is gone
    assert rows[0].metrics["players"] == {"changed": 1, "unavailable": 1}
    assert [r.kind for r in store.runs.recent(10, "deliver")] == ["deliver"]
    totals = store.runs.totals()
    assert totals["runs_total:kind=poll"] == 2  # ...but still counted
    assert totals["players_polled_total:outcome=changed"] == 2
    assert totals["errors_total:error=unavailable"] == 1
    assert set(latest(store)) == {"poll", "deliver"}


def test_a_dry_run_is_measured_but_not_stored() -> None:
    store = open_store("sqlite:///:memory:")
    report = RunReport(T0, T0, (PlayerResult("a", "changed"),), dry_run=True)
    m = record_run(store, "poll", report=report)
    assert m.players == {"changed": 1} and m.id is None
    assert store.runs.recent() == [] and store.runs.totals() == {}


# -- Prometheus text format -----------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>.*)\}})? (?P<value>\S+)$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


@dataclass
class Family:
    name: str
    type: str
    help: str
    samples: list[tuple[str, dict[str, str], float]]


def parse_exposition(text: str) -> dict[str, Family]:
    """A strict reader of the text exposition format 0.0.4, as node_exporter's textfile
    collector reads it: HELP and TYPE before a family's samples, each family in one block,
    valid names, quoted and escaped label values, float values, no timestamps, no duplicate
    series, summaries with quantile/_sum/_count, counters not negative."""
    assert text.endswith("\n"), "the file must end with a newline"
    families: dict[str, Family] = {}
    current: Family | None = None
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for n, line in enumerate(text.splitlines(), 1):
        assert line.strip(), f"line {n}: blank line"
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name), f"line {n}: bad name {name!r}"
            assert name not in families, f"line {n}: {name} appears in two blocks"
            current = families[name] = Family(name, "", help_.replace("\\n", "\n"), [])
            continue
        if line.startswith("# TYPE "):
            name, _, type_ = line[7:].partition(" ")
            assert current is not None and current.name == name, f"line {n}: TYPE without HELP"
            assert not current.samples, f"line {n}: TYPE after samples"
            assert type_ in {"counter", "gauge", "summary", "histogram", "untyped"}, type_
            current.type = type_
            continue
        assert not line.startswith("#"), f"line {n}: unexpected comment"
        m = _SAMPLE.match(line)
        assert m, f"line {n}: not a sample: {line!r}"
        assert current is not None and current.type, f"line {n}: sample before HELP/TYPE"
        name = m["name"]
        allowed = {current.name}
        if current.type == "summary":
            allowed |= {current.name + "_sum", current.name + "_count"}
        assert name in allowed, f"line {n}: {name} inside the {current.name} block"
        labels: dict[str, str] = {}
        rest = m["labels"] or ""
        while rest:
            lm = _LABEL.match(rest)
            assert lm, f"line {n}: bad labels {rest!r}"
            assert lm[1] not in labels, f"line {n}: label {lm[1]} twice"
            labels[lm[1]] = re.sub(r"\\(.)", lambda e: "\n" if e[1] == "n" else e[1], lm[2])
            rest = rest[lm.end():]
        value = float(m["value"])  # "NaN", "+Inf" parse too; a timestamp would not match
        if current.type == "counter":
            assert value >= 0, f"line {n}: negative counter"
        if current.type == "summary" and name == current.name:
            assert 0 <= float(labels["quantile"]) <= 1
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"line {n}: duplicate series"
        seen.add(key)
        current.samples.append((name, labels, value))
    # OpenMetrics names a counter without its _total: no gauge may already use that name.
    for name, family in families.items():
        if family.type == "counter":
            assert name.endswith("_total"), name
            assert name.removesuffix("_total") not in families, name
    return families


def _two_kinds() -> tuple[dict[str, RunMetrics], dict[str, int]]:
    poll = collect("poll", report=_report("changed", "unavailable"), delivery=_delivery(),
                   http=HttpStats(1, 3, (0.1, 0.2, 0.4)), finished=T0 + timedelta(seconds=5))
    deliver = collect("deliver", delivery=DeliveryReport(started_at=T0), finished=T0)
    totals = {**poll.totals(), "runs_total:kind=deliver": 4,
              'errors_total:error=we"ird\\name\nx': 1}
    return {"poll": poll, "deliver": deliver}, totals


def test_prometheus_output_is_valid_and_has_the_documented_series() -> None:
    latest_runs, totals = _two_kinds()
    families = parse_exposition(render_prometheus(latest_runs, totals))

    def value(name: str, **labels: str) -> float:
        for sample, got, v in families[name.removesuffix("_sum").removesuffix("_count")].samples:
            if sample == name and got == labels:
                return v
        raise AssertionError(f"no {name}{labels}")

    assert value("osrs_notify_run_duration_seconds", kind="poll") == 5.0
    assert value("osrs_notify_run_timestamp_seconds", kind="deliver") == T0.timestamp()
    assert value("osrs_notify_last_run_players_polled", kind="poll", outcome="unavailable") == 1
    assert value("osrs_notify_api_latency_seconds", kind="poll", quantile="0.5") == 0.2
    assert value("osrs_notify_api_latency_seconds", kind="poll", quantile="0.95") == 0.38
    assert value("osrs_notify_api_latency_seconds_count", kind="poll") == 3
    assert value("osrs_notify_cache_hit_ratio", kind="poll") == 0.25
    assert value("osrs_notify_delivery_latency_seconds", kind="poll", quantile="0.5") == 2.0
    assert value("osrs_notify_last_run_errors", kind="poll", error="discord_retry") == 1
    assert value("osrs_notify_runs_total", kind="deliver") == 4
    assert value("osrs_notify_players_polled_total", outcome="changed") == 1
    assert value("osrs_notify_errors_total", error='we"ird\\name\nx') == 1  # escaped, read back
    assert families["osrs_notify_runs_total"].type == "counter"
    assert families["osrs_notify_api_latency_seconds"].type == "summary"
    # A run without requests has no latency or cache series (not NaN, not zero).
    assert all(lbl.get("kind") != "deliver" for _, lbl, _ in
               families["osrs_notify_api_latency_seconds"].samples)
    assert ("osrs_notify_cache_hit_ratio", {"kind": "deliver"}) not in [
        (s, lbl) for s, lbl, _ in families["osrs_notify_cache_hit_ratio"].samples
    ]


def test_prometheus_output_with_nothing_recorded_is_empty_but_valid() -> None:
    assert render_prometheus({}, {}) == "\n" or parse_exposition(render_prometheus({}, {})) == {}


def test_the_format_checker_catches_mistakes() -> None:
    good = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
    parse_exposition(good)
    for bad in (
        "a_total 1\n",  # no HELP/TYPE
        good + "# HELP a_total A.\n# TYPE a_total counter\na_total 2\n",  # two blocks
        good.replace("a_total 1", "a_total 1 1700000000000"),  # a timestamp
        good.replace("a_total 1", 'a_total{x="1} 1'),  # bad quoting
        good.replace(" 1\n", " -1\n"),  # negative counter
        good + "# HELP a A.\n# TYPE a gauge\na 1\n",  # gauge named like the counter
        good.rstrip("\n"),
    ):
        with pytest.raises((AssertionError, ValueError)):
            parse_exposition(bad)


def test_the_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "osrs.prom"
    target.write_text("old\n")
    write_text_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osrs.prom"]  # no temporary left
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_export_writes_from_the_store(tmp_path: Path) -> None:
    store = open_store("sqlite:///:memory:")
    record_run(store, "poll", report=_report("changed", events=1), finished=T0)
    assert export(store, tmp_path / "m.prom")
    families = parse_exposition((tmp_path / "m.prom").read_text())
    assert families["osrs_notify_runs_total"].samples == [
        ("osrs_notify_runs_total", {"kind": "poll"}, 1.0)
    ]
    assert not export(store, tmp_path / "missing" / "m.prom")  # a warning, never a crash


# -- through the CLI ------------------------------------------------------------------------------


HOOK = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"


@pytest.fixture
def fakes(main_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
          rsps: responses.RequestsMock) -> Fakes:
    monkeypatch.setenv("CLAN_URL", HOOK)
    (tmp_path / "osrs-notify.toml").write_text(
        'database = "sqlite:///t.db"\n[poll]\nretries = 0\nconcurrency = 2\n'
        '[webhooks.clan]\nurl = "${CLAN_URL}"\n'
        '[[players]]\nname = "Alice"\n[[players]]\nname = "Bob"\n[[players]]\nname = "Gone"\n',
        encoding="utf-8",
    )
    return Fakes(rsps)


def test_poll_and_deliver_are_recorded_and_shown_by_stats(
    fakes: Fakes, run: Callable[..., Run], tmp_path: Path
) -> None:
    fakes.players["Alice"] = {"Attack": game.xp_for_level(70)}
    fakes.players["Bob"] = {"Attack": game.xp_for_level(60)}
    prom = tmp_path / "osrs.prom"
    assert run("poll", "--metrics-file", str(prom))[0] == 0  # Gone is not found: no failure
    fakes.players["Alice"] = {"Attack": game.xp_for_level(71)}
    assert run("poll", "--metrics-file", str(prom))[0] == 0
    assert run("deliver")[0] == 0

    code, out, err = run("stats")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Started", "(UTC)", "Kind"]
    assert [line.split()[2] for line in lines[2:5]] == ["deliver", "poll", "poll"]
    second = lines[3]
    assert "3" in second.split() and "not_found 1" in second  # 3 players, Gone not found
    assert "2 in 1 msg" in second  # levelup + combat in one message
    assert "0 message(s) pending delivery." in out

    code, out, _ = run("stats", "--json", "--limit", "2")
    data = json.loads(out)
    assert [r["kind"] for r in data["runs"]] == ["deliver", "poll"]
    poll = data["runs"][1]
    assert poll["players"] == {"changed": 1, "not_found": 1, "unchanged": 1}
    assert poll["events_derived"] == 2 and poll["deliveries_sent"] == 2
    assert poll["api_requests"] == 3 and poll["cache_hit_ratio"] == 0.0
    assert poll["api_latency_s"]["count"] == 3 and poll["delivery_latency_s"]["count"] == 2
    assert poll["errors"] == {"not_found": 1}
    assert data["totals"]["runs_total:kind=poll"] == 2
    assert data["totals"]["players_polled_total:outcome=baseline"] == 2

    families = parse_exposition(prom.read_text())
    assert ("osrs_notify_runs_total", {"kind": "poll"}, 2.0) in (
        families["osrs_notify_runs_total"].samples
    )
    assert run("stats", "--kind", "deliver", "--json")[1].count('"kind": "deliver"') == 1
    everything = "".join(run("stats")[1:] + run("stats", "--json")[1:]) + prom.read_text()
    assert TOKEN not in everything and "SeCrEt" not in everything


def test_stats_writes_the_metrics_file_too(
    fakes: Fakes, run: Callable[..., Run], tmp_path: Path
) -> None:
    fakes.players["Alice"] = {"Attack": game.xp_for_level(70)}
    assert run("deliver")[0] == 0
    code, _, _ = run("stats", "--metrics-file", str(tmp_path / "s.prom"))
    assert code == 0
    assert "osrs_notify_runs_total" in parse_exposition((tmp_path / "s.prom").read_text())


def test_stats_with_no_runs_says_so(
    fakes: Fakes, run: Callable[..., Run]
) -> None:
    code, out, _ = run("stats")
    assert code == 0 and "No runs recorded yet" in out
    assert json.loads(run("stats", "--json")[1])["runs"] == []


def test_a_metrics_file_that_cannot_be_written_is_refused_before_polling(
    fakes: Fakes, run: Callable[..., Run], tmp_path: Path
) -> None:
    fakes.players["Alice"] = {"Attack": game.xp_for_level(70)}
    code, _, err = run("poll", "--metrics-file", str(tmp_path / "nope" / "x.prom"))
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "t.db").exists() or open_store(
        "sqlite:///" + str(tmp_path / "t.db")
    ).counts()["snapshot"] == 0


def test_the_metrics_file_can_come_from_the_environment(
    fakes: Fakes, run: Callable[..., Run], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSRS_METRICS_FILE", str(tmp_path / "env.prom"))
    assert run("deliver")[0] == 0
    assert (tmp_path / "env.prom").exists()


def test_a_dry_run_records_nothing(
    fakes: Fakes, run: Callable[..., Run], tmp_path: Path
) -> None:
    fakes.players["Alice"] = {"Attack": game.xp_for_level(70)}
    assert run("poll", "--dry-run")[0] == 0
    assert json.loads(run("stats", "--json")[1])["runs"] == []


def test_metrics_module_is_lean() -> None:
    # On the cron path: the standard library only.
    import poller.metrics as mod

    source = Path(mod.__file__).read_text()
    imports = re.findall(r"^(?:from|import) (\S+)", source, flags=re.M)
    assert set(imports) <= {"__future__", "logging", "math", "os", "re", "socket", "tempfile",
                            "collections.abc", "dataclasses", "datetime", "typing"}


# -- prometheus_client: the series contract, and only when a file is asked for ------------------

# Every family of the file: type, help text, label names. The README "Metrics" table lists them;
# dashboards and alerts use these names, so a change here is a breaking change for users.
SERIES: dict[str, tuple[str, str, frozenset[str]]] = {
    "osrs_notify_run_timestamp_seconds": (
        "gauge", "When the last run of this kind finished.", frozenset({"kind"})),
    "osrs_notify_run_duration_seconds": (
        "gauge", "How long the last run took.", frozenset({"kind"})),
    "osrs_notify_last_run_players_polled": (
        "gauge", "Players polled in the last run, by outcome.", frozenset({"kind", "outcome"})),
    "osrs_notify_last_run_api_requests": (
        "gauge", "Network requests in the last run.", frozenset({"kind"})),
    "osrs_notify_api_latency_seconds": (
        "summary", "Latency of the last run's API requests.", frozenset({"kind"})),
    "osrs_notify_cache_hit_ratio": (
        "gauge", "Cache hits / all requests in the last run.", frozenset({"kind"})),
    "osrs_notify_last_run_events_derived": (
        "gauge", "Events derived in the last run.", frozenset({"kind"})),
    "osrs_notify_last_run_messages_sent": (
        "gauge", "Discord messages sent in the last run.", frozenset({"kind"})),
    "osrs_notify_last_run_deliveries_sent": (
        "gauge", "Events delivered in the last run.", frozenset({"kind"})),
    "osrs_notify_delivery_latency_seconds": (
        "summary", "From an event being stored to Discord accepting it, last run.",
        frozenset({"kind"})),
    "osrs_notify_last_run_errors": (
        "gauge", "Failures in the last run, by kind.", frozenset({"kind", "error"})),
    "osrs_notify_runs_total": ("counter", "Runs recorded, by kind.", frozenset({"kind"})),
    "osrs_notify_players_polled_total": (
        "counter", "Player fetches, by outcome.", frozenset({"outcome"})),
    "osrs_notify_events_derived_total": (
        "counter", "Events derived from snapshots and price alerts.", frozenset()),
    "osrs_notify_messages_sent_total": ("counter", "Discord messages accepted.", frozenset()),
    "osrs_notify_deliveries_sent_total": (
        "counter", "Events delivered to a webhook.", frozenset()),
    "osrs_notify_api_requests_total": (
        "counter", "HTTP requests that went to the network.", frozenset()),
    "osrs_notify_cache_hits_total": ("counter", "HTTP requests served by the cache.", frozenset()),
    "osrs_notify_errors_total": (
        "counter", "Failures, by kind (player fetches, Discord sends, Redis).",
        frozenset({"error"})),
}


def test_every_series_keeps_its_name_type_help_and_labels() -> None:
    poll = collect("poll", report=_report("changed", "unavailable", events=2),
                   delivery=_delivery(), http=HttpStats(1, 3, (0.1, 0.2, 0.4)),
                   finished=T0 + timedelta(seconds=5), extra_events=1)
    totals = {**poll.totals(), "events_derived_total": 7}
    text = render_prometheus({"poll": poll}, totals)
    families = parse_exposition(text)
    assert {name: (f.type, f.help) for name, f in families.items()} == {
        name: (type_, help_) for name, (type_, help_, _) in SERIES.items()
    }
    for name, family in families.items():
        labels = SERIES[name][2]
        for sample, got, _ in family.samples:
            expected = labels | {"quantile"} if sample == name and family.type == "summary" \
                else labels
            assert set(got) == expected, (sample, got)
    # prometheus_client writes no _created series for counters built from stored totals, and
    # none of its process_*/python_* series (a private registry, not the global one).
    assert "_created" not in text and "process_" not in text and "python_" not in text
    assert value_of(families, "osrs_notify_events_derived_total") == 7


def value_of(families: dict[str, Family], name: str, **labels: str) -> float:
    family = families.get(name) or families[name.removesuffix("_sum").removesuffix("_count")]
    for sample, got, v in family.samples:
        if sample == name and got == labels:
            return v
    raise AssertionError(f"no {name}{labels}")


def test_large_and_fractional_values_read_back_exactly() -> None:
    # prometheus_client writes Go-style floats (1.7829072e+09, 3.0): the same numbers.
    m = collect("poll", report=_report("changed"), http=HttpStats(0, 1, (0.123456,)),
                finished=T0 + timedelta(seconds=1, microseconds=250_000))
    families = parse_exposition(render_prometheus({"poll": m}, {"api_requests_total": 10**12}))
    assert value_of(families, "osrs_notify_run_timestamp_seconds", kind="poll") == (
        m.finished_at.timestamp()
    )
    assert value_of(families, "osrs_notify_api_requests_total") == 10**12
    assert value_of(families, "osrs_notify_api_latency_seconds_sum", kind="poll") == 0.123456


def test_export_without_prometheus_client_warns_and_the_run_is_still_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # `import` raises ImportError
    store = open_store("sqlite:///:memory:")
    m = record_run(store, "poll", report=_report("changed"), finished=T0,
                   metrics_file=tmp_path / "m.prom")
    assert m.id is not None and not (tmp_path / "m.prom").exists()
    assert "prometheus_client is not installed" in caplog.text


@dataclass
class FakeSink:
    """The Redis layer as metrics sees it (SummarySink): outages in, a summary out."""

    failures: int = 2
    published: list[Mapping[str, object]] = field(default_factory=list)

    def take_failures(self) -> int:
        n, self.failures = self.failures, 0
        return n

    def publish_summary(self, summary: Mapping[str, object]) -> bool:
        self.published.append(summary)
        return True


def test_record_run_counts_the_sinks_outages_and_hands_it_plain_data() -> None:
    store = open_store("sqlite:///:memory:")
    sink = FakeSink()
    m = record_run(store, "poll", report=_report("changed"), finished=T0, redis=sink)
    assert m.errors == {"redis": 2}
    assert sink.published == [m.as_dict()]
    json.dumps(sink.published[0], default=str)  # what the Redis layer publishes as is


def _imports_of(path: Path) -> set[str]:
    """Every module a source file imports, at any depth: inside functions and under
    TYPE_CHECKING too (each is an edge of the import graph)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found |= {f"{base}.{alias.name}".replace("..", ".") for alias in node.names}
    return found


def test_metrics_and_the_redis_layer_do_not_import_each_other() -> None:
    # Data flows one way (run reports → metrics → sinks): metrics takes a SummarySink, the Redis
    # layer publishes a plain mapping. Neither names the other, not even for type checking.
    import poller.metrics
    import poller.redis_layer

    metrics_imports = _imports_of(Path(poller.metrics.__file__))
    redis_imports = _imports_of(Path(poller.redis_layer.__file__))
    assert not {i for i in metrics_imports if "redis" in i}, metrics_imports
    assert not {i for i in redis_imports if "metrics" in i}, redis_imports


@pytest.mark.parametrize(
    ("argv", "file_env", "loaded"),
    [
        (["poll"], False, False),
        (["deliver"], False, False),
        (["poll", "--metrics-file", "m.prom"], False, True),
        (["deliver"], True, True),
    ],
    ids=["poll", "deliver", "poll-with-file", "deliver-with-env-file"],
)
def test_prometheus_client_is_imported_only_when_a_metrics_file_is_asked_for(
    tmp_path: Path, argv: list[str], file_env: bool, loaded: bool
) -> None:
    # A fresh interpreter: in this one other tests have imported prometheus_client already.
    extra = {"OSRS_METRICS_FILE": str(tmp_path / "m.prom")} if file_env else None
    result = cli_in_a_fresh_process(
        tmp_path, argv, watched="prometheus_client", hook=HOOK, env_extra=extra
    )
    assert result == {"code": 0, "loaded": loaded}
    if loaded:
        assert "osrs_notify_runs_total" in parse_exposition((tmp_path / "m.prom").read_text())
    else:
        assert not (tmp_path / "m.prom").exists()


def test_change_wait_is_half_the_time_since_the_poll_before_and_is_exported(
    tmp_path: Path,
) -> None:
    results = (PlayerResult("a", "changed", unseen_for=600.0),
               PlayerResult("b", "changed", unseen_for=3600.0),
               PlayerResult("c", "unchanged"))
    m = collect("poll", report=RunReport(T0, T0 + timedelta(seconds=5), results),
                finished=T0 + timedelta(seconds=5), host="h")
    assert (m.change_wait.count, m.change_wait.p50) == (2, 1050.0)
    again = RunMetrics.from_row("poll", m.started_at, m.finished_at, "h", m.to_json())
    assert again.change_wait == m.change_wait
    text = render_prometheus({"poll": m}, {}, requests_last_hour=42)
    assert 'osrs_notify_change_wait_seconds{kind="poll",quantile="0.5"} 1050.0' in text
    assert "osrs_notify_api_requests_last_hour 42.0" in text


def test_requests_of_the_last_hour_count_every_run(tmp_path: Path) -> None:
    from poller.run_log import requests_last_hour

    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        for minutes_ago, requests in ((90, 100), (50, 7), (10, 5)):
            at = T0 - timedelta(minutes=minutes_ago)
            store.runs.record("poll", at, at + timedelta(seconds=1), "h",
                              {"api_requests": requests})
        assert requests_last_hour(store, T0) == 12
    finally:
        store.close()
