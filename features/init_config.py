"""`churn init`: profile a dataset and propose a starter config from what is in it.

`profile_dataset` reads (through Ibis, lazily aggregated) the tables, their columns and types,
and each event name with its count, first and last date and share of rows with a value.
`propose` turns a profile into a config dict plus the comments that explain each choice, and
`render` writes them out as commented YAML. Nothing here touches files.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import ibis
import pandas as pd

from features.dataset import Dataset
from features.registry import available_builders

CUSTOMER_KEYS = {"customer_id", "signup_at"}
MAX_CATEGORIES = 50
MAX_CUTOFFS = 12
WEEK = 7

# Signal family -> words that, as a token of an event name, put it in the family (first match
# wins, in this order; churn events are tried before all of them).
CHURN_WORDS = {"cancelled", "canceled", "churn", "churned", "terminated", "cancellation"}
PAGE_WORDS = {"page", "view", "visit", "click", "viewed", "visited", "pageview"}
FAMILY_WORDS: dict[str, set[str]] = {
    "faq_page": {"help", "faq", "faqs"},
    "cancel_page": {"cancel", "cancellation", "unsubscribe", "unsubscribed"},
    "support_contact": {"support", "ticket", "chat", "call"},
    "email_sent": {"sent", "send", "delivered"},
    "email_open": {"open", "opened", "opens"},
    "payment": {"invoice", "payment", "purchase", "order", "charge", "paid", "charged", "pay"},
    "activity": {"login", "logon", "signin", "session", "page", "view", "pageview", "screen"}
    | {"activity", "active", "visit", "app", "pageviewed", "logged"},
}
# Builder families fed by each signal family.
BUILDER_FAMILIES = {
    "faq_page": "web_journey",
    "cancel_page": "web_journey",
    "support_contact": "support",
    "email_sent": "email",
    "email_open": "email",
    "activity": "activity",
    "payment": "value",
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    distinct: int | None = None  # strings only
    numeric_share: float | None = None  # strings only: the share that parses as a number


@dataclass(frozen=True)
class EventName:
    name: str
    count: int
    first: pd.Timestamp
    last: pd.Timestamp
    valued: float  # share of rows with a non-null, non-zero value


@dataclass
class Profile:
    source: str
    tables: dict[str, list[Column]]
    customers: int
    events: list[EventName]
    activity_gap_days: dict[str, float] = field(default_factory=dict)  # filled by propose


def tokens(name: str) -> list[str]:
    """`Page:Help` -> [page, help]; `invoice.paid` -> [invoice, paid]; `loginSuccess` too."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def is_churn_event(name: str) -> bool:
    words = set(tokens(name))
    return bool(words & CHURN_WORDS) and not words & PAGE_WORDS


def signal_family(name: str) -> str | None:
    words = set(tokens(name))
    for family, known in FAMILY_WORDS.items():
        if words & known:
            return family
    return None


def profile_dataset(dataset: Dataset) -> Profile:
    """Tables, columns and types, and per event name its count, dates and valued share."""
    tables = {
        name: _columns(table)
        for name, table in (
            ("customers", dataset.customers),
            ("events", dataset.events),
            ("labels", dataset.labels),
        )
        if table is not None
    }
    events = dataset.events
    has_value = "value" in events.columns
    valued = {}
    if has_value:
        value = events.value.try_cast("float64")
        valued["valued"] = (value.notnull() & (value != 0)).cast("int64").sum()
    per_event = (
        events.group_by(events.event)
        .aggregate(count=events.count(), first=events.ts.min(), last=events.ts.max(), **valued)
        .to_pandas()
        .sort_values(["count", "event"], ascending=[False, True])
    )
    names = [
        EventName(
            str(row.event),
            int(row.count),
            pd.Timestamp(row.first),
            pd.Timestamp(row.last),
            float(getattr(row, "valued", 0) or 0) / max(int(row.count), 1),
        )
        for row in per_event.itertuples()
        if row.event is not None
    ]
    customers = int(dataset.customers.count().to_pyarrow().as_py())
    return Profile(str(dataset.source), tables, customers, names)


def _columns(table: ibis.Table) -> list[Column]:
    out = []
    for name, dtype in table.schema().items():
        if dtype.is_string() and name not in CUSTOMER_KEYS:
            col = table[name]
            stats = table.aggregate(
                distinct=col.nunique(),
                present=col.count(),
                numeric=col.try_cast("float64").count(),
            ).to_pandas()
            present = int(stats.present[0])
            share = int(stats.numeric[0]) / present if present else 0.0
            out.append(Column(name, str(dtype), int(stats.distinct[0]), share))
        else:
            out.append(Column(name, str(dtype)))
    return out


def activity_gaps(dataset: Dataset, names: list[str]) -> dict[str, float]:
    """Percentiles of the days between a customer's consecutive active days."""
    events = dataset.events
    days = (
        events.filter(events.event.isin(names))
        .select(customer_id=events.customer_id, day=events.ts.epoch_seconds() // 86400)
        .distinct()
    )
    gap = days.day - days.day.lag().over(group_by="customer_id", order_by="day")
    gaps = days.select(gap=gap).filter(lambda t: t.gap.notnull())
    stats = gaps.aggregate(
        p50=gaps.gap.quantile(0.5), p90=gaps.gap.quantile(0.9), p95=gaps.gap.quantile(0.95)
    ).to_pandas()
    return {k: float(stats[k][0]) for k in ("p50", "p90", "p95") if pd.notna(stats[k][0])}


@dataclass
class Proposal:
    config: dict
    notes: dict[str, list[str]]  # top-level section -> comment lines above it
    unmatched: list[EventName]
    summary: list[str]


def propose(
    profile: Profile,
    gaps: dict[str, float] | None = None,
    revenue: dict[str, float] | None = None,
    name: str = "my-data",
) -> Proposal:
    """A config dict with a comment for each choice; `gaps` are activity-gap percentiles
    (`activity_gaps`), `revenue` per-customer trailing revenue percentiles (p50, p90)."""
    notes: dict[str, list[str]] = {}
    signals: dict[str, list[str]] = {family: [] for family in FAMILY_WORDS}
    churn_names, unmatched = [], []
    for event in profile.events:
        if is_churn_event(event.name):
            churn_names.append(event.name)
        elif (family := signal_family(event.name)) is not None:
            signals[family].append(event.name)
        else:
            unmatched.append(event)
    if not signals["activity"] and signals["payment"]:
        signals["activity"] = list(signals["payment"])
        notes["signals"] = ["No login/session/page-view events: purchases count as activity."]
    notes.setdefault("signals", []).insert(
        0, "Event names matched to signal families by the words in them (any case/separator)."
    )
    mapped = {f: names for f, names in signals.items() if names}
    first = min((e.first for e in profile.events), default=None)
    last = max((e.last for e in profile.events), default=None)
    span = (last - first).days if first is not None else 0
    churn, horizon = _churn(churn_names, mapped, gaps or {}, span, notes)
    snapshots, embargo = _snapshots(first, last, horizon, notes)
    customer_columns = {c.name: c for c in profile.tables.get("customers", [])}
    value = _value(mapped, churn, profile, customer_columns, notes)
    profile_columns, categorical = _profile_columns(customer_columns, profile.customers, notes)
    builders = _builders(mapped, churn, customer_columns, profile, profile_columns)
    notes["features"] = [
        f"Builders of the families with mapped events ({len(builders)} of "
        f"{len(available_builders())} registered);",
        "profile columns from the customers table (text with few values as categorical).",
    ]
    notes["decisions"] = decision_notes(revenue)
    config = {
        "name": name,
        "signals": {f: names for f, names in signals.items()},
        "churn": churn,
        "snapshots": snapshots,
        "features": {
            "builders": builders,
            "profile_columns": profile_columns,
            "categorical_columns": categorical,
        },
        "training": {"model_name": f"churn-{name}", "embargo": embargo},
        "scoring": {"value": value},
        # The default actions (a retention offer within the budget, a check-in email beyond
        # it) until the user names theirs; currency and budget are the user's to confirm.
        "decisions": {"currency": "USD", "budget": {"share": 0.05}},
    }
    summary = [
        f"{profile.customers:,} customers, {sum(e.count for e in profile.events):,} events, "
        f"{len(profile.events)} event names, {first:%Y-%m-%d}..{last:%Y-%m-%d}"
        if first is not None
        else f"{profile.customers:,} customers, no events",
        "signals: " + "; ".join(f"{f}={names}" for f, names in mapped.items()),
        f"churn: {churn}",
        f"cutoffs: {snapshots['count']} every {snapshots['every_days']} days, horizon "
        f"{snapshots['horizon_days']} (embargo {embargo})",
        f"value: {value}; {len(builders)} builders; profile {profile_columns}",
        f"unmatched event names: {[e.name for e in unmatched] or 'none'}",
    ]
    return Proposal(config, notes, unmatched, summary)


def decision_notes(revenue: dict | None) -> list[str]:
    """What the decisions section assumes, with the trailing spend that prices an offer."""
    notes = [
        "Tiers follow expected profit = churn probability x value x save rate - offer and contact",
        "costs, per action (defaults: a retention offer, save rate 0.3, offer 10, contact 1; a",
        '"how can we help?" email beyond the budget). Name your currency, your contact budget',
        "(share or count per run) and your actions under decisions.actions (README, Decisions).",
    ]
    if revenue:
        notes.append(
            f"Trailing 12-month spend per customer: median {revenue.get('p50', 0):,.2f}, "
            f"90th percentile {revenue.get('p90', 0):,.2f}: price offers against it."
        )
    return notes


def _churn(
    churn_names: list[str], mapped: dict, gaps: dict, span: int, notes: dict
) -> tuple[dict, int]:
    if churn_names:
        notes["churn"] = [f"Contractual: churn is one of the cancel-like events {churn_names}."]
        return {"source": "events", "events": churn_names}, 30
    p = gaps.get("p95") or gaps.get("p90")
    days = WEEK * math.ceil((p or 90) / WEEK)
    cap = max(WEEK * (span // 3 // WEEK), WEEK)
    days = min(max(days, 2 * WEEK), cap)
    notes["churn"] = [
        "No cancel-like event: churn is inactivity (no activity event for inactive_days).",
        f"Gaps between a customer's active days: median {gaps.get('p50', float('nan')):.0f}, "
        f"95th percentile {gaps.get('p95', float('nan')):.0f} days; inactive_days is the 95th",
        f"percentile rounded up to a week (at most a third of the {span}-day span).",
    ]
    if not mapped.get("activity"):
        notes["churn"].append("No activity events were found: map some before training.")
    return {"source": "inactivity", "inactive_days": int(days)}, int(days)


def _snapshots(
    first: pd.Timestamp | None, last: pd.Timestamp | None, horizon: int, notes: dict
) -> tuple[dict, str]:
    """Cutoffs `every_days >= horizon` apart ending at the latest fully labelled one."""
    spec = {"every_days": max(horizon, 30), "count": 3, "horizon_days": horizon}
    spec["lookback_days"] = 365
    if first is None:
        return spec, "strict"
    until = last.floor("D") + pd.Timedelta(days=1)
    latest = (until - pd.Timedelta(days=horizon)).floor("D")
    earliest = first.floor("D") + pd.Timedelta(days=30)  # a month of history before the first
    room = (latest - earliest).days
    every = spec["every_days"]
    count = min(room // every + 1 if room >= 0 else 0, MAX_CUTOFFS)
    embargo = "strict"
    if count < 3:
        every, embargo = 30, "test_only"
        count = min(max(room // every + 1, 1), MAX_CUTOFFS)
    spec.update(every_days=every, count=int(count))
    notes["snapshots"] = [
        f"{count} cutoffs {every} days apart (as many as fit, at most {MAX_CUTOFFS}, after a "
        "month of history);",
        f"the last ({latest:%Y-%m-%d}) is the latest whose {horizon}-day label window closes by",
        f"the data's end ({until:%Y-%m-%d}). It is the test cutoff; the time split's embargo",
        "keeps validation and training label windows from reaching into it.",
    ]
    if embargo == "test_only":
        notes["snapshots"].append(
            "The data is too short for cutoffs a horizon apart: training.embargo is test_only."
        )
    if count < 3:
        notes["snapshots"].append(too_short(room, every, horizon))
    return spec, embargo


def too_short(room: int, every: int, horizon: int) -> str:
    """Why a dataset with fewer than three usable cutoffs cannot be trained on, and the fix."""
    needed = 30 + 2 * every + horizon
    return (
        f"TOO SHORT TO TRAIN: training needs 3 labelled cutoffs (train, validation, test) "
        f"{every} days apart after a month of history, each with its {horizon}-day label window "
        f"observed: about {needed} days of events; this data has {room + 30 + horizon}. Add "
        "history, or shorten the churn horizon (snapshots.horizon_days / churn.inactive_days)."
    )


def _value(
    mapped: dict, churn: dict, profile: Profile, columns: dict[str, Column], notes: dict
) -> dict:
    paid = [e for e in profile.events if e.name in mapped.get("payment", [])]
    if paid and sum(e.valued * e.count for e in paid) > 0 and churn["source"] == "inactivity":
        notes["value"] = [
            "Customer value: expected revenue over the label horizon, from a model of",
            "next-period spend trained on the payment events (scoring.value.source: expected).",
        ]
        return {"source": "expected"}
    if paid and sum(e.valued * e.count for e in paid) > 0:
        notes["value"] = [
            "Customer value: trailing 365-day revenue from the payment events. A subscription's",
            "next-period revenue (scoring.value.source: expected) is one horizon's bills, less",
            "than what a churner takes away; choose it for a horizon that covers that.",
        ]
        return {"source": "revenue", "revenue_days": 365}
    numeric = [c.name for c in columns.values() if c.name not in CUSTOMER_KEYS and _numeric(c)]
    if numeric:
        notes["value"] = [f"No valued payments: value is the customers column {numeric[0]!r}."]
        return {"source": "column", "column": numeric[0]}
    notes["value"] = ["No valued payments or numeric customer column: revenue (will be 0)."]
    return {"source": "revenue", "revenue_days": 365}


def _numeric(column: Column) -> bool:
    if column.numeric_share is not None:
        return column.numeric_share >= 0.99 and column.distinct is not None
    return any(t in column.dtype for t in ("int", "float", "decimal"))


def _profile_columns(columns: dict[str, Column], customers: int, notes: dict) -> tuple[list, list]:
    profile, categorical, skipped = [], [], []
    for column in columns.values():
        if column.name in CUSTOMER_KEYS or column.name == "plan_price":
            continue
        if column.distinct is not None and not _numeric(column):
            if column.distinct <= min(MAX_CATEGORIES, max(customers // 2, 2)):
                profile.append(column.name)
                categorical.append(column.name)
            else:
                skipped.append(column.name)
        elif _numeric(column):
            profile.append(column.name)
        else:
            skipped.append(column.name)
    if skipped:
        notes.setdefault("features_extra", []).append(
            f"Customer columns left out (high-cardinality text or not numeric): {skipped}"
        )
    return profile, categorical


def _builders(
    mapped: dict, churn: dict, columns: dict, profile: Profile, profile_columns: list
) -> list[str]:
    families = {BUILDER_FAMILIES[f] for f in mapped}
    has_session = any(c.name == "session_id" for c in profile.tables.get("events", []))
    # Rates against each customer's own history only for non-contractual churn (as CDNOW).
    own_history = {"activity_recency_share", "purchases_per_month", "revenue_per_month"}
    out = []
    for name, builder in available_builders().items():
        if name.startswith("faq_then_cancel") and not (
            has_session and mapped.get("faq_page") and mapped.get("cancel_page")
        ):
            continue
        if name in own_history and churn["source"] != "inactivity":
            continue
        if name == "plan_price" and "plan_price" not in columns:
            continue
        if name == "profile_attributes" and not profile_columns:
            continue
        if builder.family in families or name == "tenure_days" or name == "profile_attributes":
            if builder.family == "email" and not (
                mapped.get("email_sent") or mapped.get("email_open")
            ):
                continue
            out.append(name)
    return out


def render(proposal: Proposal, problems: list[str] | None = None) -> str:
    """The config as YAML with the notes as comments above their sections."""
    import yaml

    lines = [
        f"# Starter config proposed by `churn init` from {proposal.config['name']}'s data.",
        "# Every choice below is a guess from the data: read the comments and adjust.",
    ]
    if problems:
        lines.append("# The data did NOT pass validation with this config; fix these first:")
        lines += [f"#   - {p}" for p in problems]
    if proposal.unmatched:
        lines.append("# Event names not matched to any signal (add them to a family under")
        lines.append("# signals, or to churn.events, if they mean one of those):")
        lines += [f"#   - {e.name}  ({e.count:,} events)" for e in proposal.unmatched]
    for key, value in proposal.config.items():
        lines.append("")
        section = "value" if key == "scoring" else key
        for note_key in (section, key) if key == "scoring" else (key,):
            lines += [f"# {n}" for n in proposal.notes.get(note_key, [])]
        if key == "features":
            lines += [f"# {n}" for n in proposal.notes.get("features_extra", [])]
        lines.append(yaml.safe_dump({key: value}, sort_keys=False, width=100).rstrip())
    return "\n".join(lines) + "\n"


def trailing_revenue(dataset: Dataset, names: list[str]) -> dict[str, float]:
    """Median and 90th percentile of per-customer payments in the data's last 365 days."""
    events = dataset.events
    if "value" not in events.columns:
        return {}
    paid = events.filter(events.event.isin(names))
    start = paid.ts.max() - ibis.interval(days=365)
    recent = paid.filter(paid.ts >= start.as_scalar())
    per = recent.group_by("customer_id").aggregate(
        total=recent.value.try_cast("float64").fill_null(0).sum()
    )
    stats = per.aggregate(p50=per.total.quantile(0.5), p90=per.total.quantile(0.9)).to_pandas()
    return {k: float(stats[k][0]) for k in ("p50", "p90") if pd.notna(stats[k][0])}
