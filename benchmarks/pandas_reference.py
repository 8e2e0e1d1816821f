"""The same snapshots and features as `features.matrix.build_matrix`, written the plain pandas way.

This is the benchmark's reference: read the events Parquet into one DataFrame, loop over the
cutoffs, filter the window, group by customer. Correct (a test checks it equals the DuckDB
matrix) but deliberately not optimised. It follows the builders' exact semantics: half-open
windows, ages in whole seconds floored, day index `(age_s - 1) // 86400`, FAQ-then-cancel within
1800 s inclusive or in the same non-null session, 0 for counts and missing for "days since".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import Config
from features.context import FAQ_THEN_CANCEL_SECONDS, SECONDS_PER_DAY
from features.errors import ConfigError
from features.registry import available_builders
from features.snapshots import value_horizon_days

log = logging.getLogger(__name__)

Series = pd.Series


def read_world(folder: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers and all events of a dataset folder, read fully into pandas."""
    folder = Path(folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    events_path = folder / "events.parquet"
    events = pd.read_parquet(events_path if events_path.is_file() else folder / "events")
    return customers, events


def whole_seconds(ts: pd.Series) -> pd.Series:
    """Epoch seconds of UTC timestamps, floored (as the builders compute them)."""
    return ts.dt.as_unit("us").astype("int64") // 1_000_000


def observed_until(events: pd.DataFrame, cfg: Config) -> pd.Timestamp:
    """The exclusive end of observation: from config, else midnight after the last event."""
    if cfg.snapshots.observed_until is not None:
        return pd.Timestamp(cfg.snapshots.observed_until, tz="UTC")
    return events["ts"].max().floor("D") + pd.Timedelta(days=1)


def snapshot(
    customers: pd.DataFrame,
    events: pd.DataFrame,
    cfg: Config,
    cutoff: pd.Timestamp,
    until: pd.Timestamp,
) -> pd.DataFrame:
    """customer_id and churned (1.0/0.0, NaN when the horizon is not observed) at one cutoff."""
    signed_up = customers.loc[customers["signup_at"] < cutoff, "customer_id"]
    end = cutoff + pd.Timedelta(days=cfg.snapshots.horizon_days)
    if cfg.churn.source == "events":
        is_churn = events["event"].isin(cfg.churn.events)
        churned_before = events.loc[is_churn & (events["ts"] < cutoff), "customer_id"]
        active = signed_up[~signed_up.isin(churned_before)]
        in_horizon = events.loc[
            is_churn & (events["ts"] >= cutoff) & (events["ts"] < end), "customer_id"
        ]
        churned = active.isin(in_horizon)
    elif cfg.churn.source == "inactivity":
        is_active = events["event"].isin(cfg.signals.activity)
        window = cfg.snapshots.active_within_days or cfg.churn.inactive_days
        if window == "all":
            active = signed_up
        else:
            since = cutoff - pd.Timedelta(days=window)
            recent = events.loc[
                is_active & (events["ts"] >= since) & (events["ts"] < cutoff), "customer_id"
            ]
            active = signed_up[signed_up.isin(recent)]
        returned = events.loc[
            is_active & (events["ts"] >= cutoff) & (events["ts"] < end), "customer_id"
        ]
        churned = ~active.isin(returned)
    else:
        raise ConfigError("the pandas reference derives labels from events only (churn.source)")
    labelled = end <= until
    frame = pd.DataFrame({"customer_id": active.to_numpy()})
    frame["churned"] = churned.to_numpy().astype("float64") if labelled else np.nan
    if labelled and cfg.signals.payment and "value" in events.columns:
        # The value model's label: payments in [cutoff, cutoff + value horizon).
        paid_until = cutoff + pd.Timedelta(days=value_horizon_days(cfg))
        paid = events[
            events["event"].isin(cfg.signals.payment)
            & (events["ts"] >= cutoff)
            & (events["ts"] < paid_until)
        ]
        revenue = paid.groupby("customer_id")["value"].sum(min_count=0)
        frame["future_revenue"] = frame["customer_id"].map(revenue).fillna(0.0).to_numpy()
    return frame.sort_values("customer_id", ignore_index=True)


class Window:
    """Events of the lookback before one cutoff, with per-customer helpers over them."""

    def __init__(self, events: pd.DataFrame, cfg: Config, cutoff: pd.Timestamp) -> None:
        lookback = pd.Timedelta(days=cfg.snapshots.lookback_days)
        keep = (events["ts"] < cutoff) & (events["ts"] >= cutoff - lookback)
        self.events = events.loc[keep].copy()
        self.events["age_s"] = int(cutoff.timestamp()) - self.events["ts_s"]
        self.cfg = cfg

    def names(self, signal: str) -> list[str]:
        return list(getattr(self.cfg.signals, signal))

    def of(self, signal: str) -> pd.DataFrame:
        return self.events[self.events["event"].isin(self.names(signal))]

    def count(self, signal: str, days: int) -> Series:
        """Events of `signal` in the last `days` days, per customer with any event (else 0)."""
        hits = self.events["event"].isin(self.names(signal)) & (
            self.events["age_s"] <= days * SECONDS_PER_DAY
        )
        return hits.groupby(self.events["customer_id"]).sum().astype("float64")

    def days_since_last(self, signal: str) -> Series:
        rows = self.of(signal)
        return rows.groupby("customer_id")["age_s"].min() / SECONDS_PER_DAY

    def active_days(self, first_day: int, last_day: int) -> Series:
        rows = self.of("activity")
        day = (rows["age_s"] - 1) // SECONDS_PER_DAY
        rows = rows[(day >= first_day) & (day < last_day)]
        days = day[rows.index]
        return days.groupby(rows["customer_id"]).nunique().astype("float64")

    def revenue(self, days: int) -> Series:
        paid = self.events["event"].isin(self.names("payment")) & (
            self.events["age_s"] <= days * SECONDS_PER_DAY
        )
        amount = self.events["value"].where(paid, 0.0)
        return amount.groupby(self.events["customer_id"]).sum().astype("float64")

    def faq_then_cancel(self, days: int) -> Series:
        """Cancel-page views at most 30 min after the latest FAQ view, or in an FAQ session."""
        faq_names = self.names("faq_page")
        web = self.events[self.events["event"].isin(faq_names + self.names("cancel_page"))]
        is_faq = web["event"].isin(faq_names)
        faqs, cancels = web[is_faq], web[~is_faq]
        latest_faq = faqs[["customer_id", "ts_s"]].rename(columns={"ts_s": "faq_s"})
        # The latest FAQ view at or before each cancel-page view (same second counts as before).
        paired = pd.merge_asof(
            cancels.sort_values("ts_s"),
            latest_faq.sort_values("faq_s"),
            left_on="ts_s",
            right_on="faq_s",
            by="customer_id",
            direction="backward",
        )
        first_in_session = (
            faqs.dropna(subset=["session_id"])
            .groupby(["customer_id", "session_id"])["ts_s"]
            .min()
            .rename("session_faq_s")
            .reset_index()
        )
        paired = paired.merge(first_in_session, on=["customer_id", "session_id"], how="left")
        hit = (
            (paired["ts_s"] - paired["faq_s"] <= FAQ_THEN_CANCEL_SECONDS)
            | (paired["session_faq_s"] <= paired["ts_s"])
        ) & (paired["age_s"] <= days * SECONDS_PER_DAY)
        return hit.groupby(paired["customer_id"]).sum().astype("float64")

    def unopened_email_streak(self) -> Series:
        opens, sent = self.of("email_open"), self.of("email_sent")
        last_open = opens.groupby("customer_id")["ts_s"].max()
        last_open_of_send = sent["customer_id"].map(last_open)
        unopened = last_open_of_send.isna() | (sent["ts_s"] > last_open_of_send)
        return unopened.groupby(sent["customer_id"]).sum().astype("float64")


def _nonzero(series: Series) -> Series:
    return series.where(series != 0)


def _has(w: Window, *signals: str) -> bool:
    return all(w.names(s) for s in signals)


# name -> (signals it needs, how to compute it per customer over the window)
EVENT_FEATURES: dict[str, tuple[tuple[str, ...], Callable[[Window], Series]]] = {
    "faq_visits_7d": (("faq_page",), lambda w: w.count("faq_page", 7)),
    "faq_visits_30d": (("faq_page",), lambda w: w.count("faq_page", 30)),
    "faq_visits_90d": (("faq_page",), lambda w: w.count("faq_page", 90)),
    "cancel_page_visits_7d": (("cancel_page",), lambda w: w.count("cancel_page", 7)),
    "cancel_page_visits_30d": (("cancel_page",), lambda w: w.count("cancel_page", 30)),
    "cancel_page_visits_90d": (("cancel_page",), lambda w: w.count("cancel_page", 90)),
    "faq_then_cancel_30d": (("faq_page", "cancel_page"), lambda w: w.faq_then_cancel(30)),
    "faq_then_cancel_90d": (("faq_page", "cancel_page"), lambda w: w.faq_then_cancel(90)),
    "days_since_last_cancel_page": (("cancel_page",), lambda w: w.days_since_last("cancel_page")),
    "support_contacts_7d": (("support_contact",), lambda w: w.count("support_contact", 7)),
    "support_contacts_30d": (("support_contact",), lambda w: w.count("support_contact", 30)),
    "support_contacts_90d": (("support_contact",), lambda w: w.count("support_contact", 90)),
    "support_spike_ratio_7d": (
        ("support_contact",),
        lambda w: (
            (w.count("support_contact", 7) / 7)
            / ((w.count("support_contact", 37) - w.count("support_contact", 7) + 1) / 30)
        ),
    ),
    "days_since_last_support_contact": (
        ("support_contact",),
        lambda w: w.days_since_last("support_contact"),
    ),
    "days_since_last_activity": (("activity",), lambda w: w.days_since_last("activity")),
    "active_days_7d": (("activity",), lambda w: w.active_days(0, 7)),
    "active_days_30d": (("activity",), lambda w: w.active_days(0, 30)),
    "active_days_90d": (("activity",), lambda w: w.active_days(0, 90)),
    "activity_trend_30d_vs_60d": (
        ("activity",),
        lambda w: w.active_days(0, 30).sub(w.active_days(30, 90) / 2, fill_value=0.0),
    ),
    "emails_sent_30d": (("email_sent",), lambda w: w.count("email_sent", 30)),
    "emails_opened_30d": (("email_open",), lambda w: w.count("email_open", 30)),
    "email_open_rate_30d": (
        ("email_sent", "email_open"),
        lambda w: w.count("email_open", 30) / _nonzero(w.count("email_sent", 30)),
    ),
    "unopened_email_streak": (("email_sent", "email_open"), Window.unopened_email_streak),
    "days_since_last_email_open": (("email_open",), lambda w: w.days_since_last("email_open")),
    "revenue_30d": (("payment",), lambda w: w.revenue(30)),
    "revenue_90d": (("payment",), lambda w: w.revenue(90)),
    "revenue_365d": (("payment",), lambda w: w.revenue(365)),
    "purchases_365d": (("payment",), lambda w: w.count("payment", 365)),
    "average_order_value_365d": (
        ("payment",),
        lambda w: w.revenue(365) / _nonzero(w.count("payment", 365)),
    ),
}


def _customer_features(
    customers: pd.DataFrame, cfg: Config, cutoff: pd.Timestamp
) -> dict[str, Series]:
    """Features from the customers table (tenure, plan price, profile), indexed by customer."""
    table = customers.set_index("customer_id")
    out: dict[str, Series] = {}
    for name in cfg.features.builders:
        if name == "tenure_days":
            tenure_s = int(cutoff.timestamp()) - whole_seconds(table["signup_at"])
            out[name] = tenure_s.astype("float64") / SECONDS_PER_DAY
        elif name == "plan_price" and "plan_price" in table.columns:
            out[name] = table["plan_price"].astype("float64")
        elif name == "profile_attributes":
            categorical = set(cfg.features.categorical_columns)
            for column in cfg.features.profile_columns:
                values = table[column]
                out[column] = (
                    values.astype("str").where(values.notna())
                    if column in categorical
                    else values.astype("float64")
                )
    return out


def features_at(
    customers: pd.DataFrame,
    events: pd.DataFrame,
    cfg: Config,
    cutoff: pd.Timestamp,
    until: pd.Timestamp,
) -> pd.DataFrame:
    """One cutoff's rows: the snapshot with every configured feature, in config order."""
    rows = snapshot(customers, events, cfg, cutoff, until)
    window = Window(events, cfg, cutoff)
    from_customers = _customer_features(customers, cfg, cutoff)
    builders = available_builders()
    ids = rows["customer_id"]
    for name in cfg.features.builders:
        if name == "profile_attributes":
            for column in cfg.features.profile_columns:
                rows[column] = from_customers[column].reindex(ids).to_numpy()
        elif name in from_customers:
            rows[name] = from_customers[name].reindex(ids).to_numpy()
        elif name in EVENT_FEATURES:
            needs, compute = EVENT_FEATURES[name]
            if not _has(window, *needs):
                continue  # an unmapped family yields no column
            values = compute(window).reindex(ids).to_numpy()
            fill = builders[name].missing
            rows[name] = values if fill is None else np.where(np.isnan(values), fill, values)
        elif name != "plan_price":
            raise ConfigError(f"the pandas reference has no implementation of builder {name}")
    rows.insert(1, "cutoff", pd.Series(cutoff, index=rows.index).astype("datetime64[us, UTC]"))
    return rows


def reference_matrix(
    customers: pd.DataFrame,
    events: pd.DataFrame,
    cfg: Config,
    cutoffs: Sequence[pd.Timestamp],
) -> pd.DataFrame:
    """The matrix for every cutoff, rows sorted by cutoff then customer_id."""
    events = events.copy()
    events["ts_s"] = whole_seconds(events["ts"])
    until = observed_until(events, cfg)
    frames = []
    for cutoff in cutoffs:
        started = time.perf_counter()
        frames.append(features_at(customers, events, cfg, pd.Timestamp(cutoff), until))
        log.info(
            "pandas reference at %s: %d rows in %.1f s",
            f"{pd.Timestamp(cutoff):%Y-%m-%d}",
            len(frames[-1]),
            time.perf_counter() - started,
        )
    matrix = pd.concat(frames, ignore_index=True)
    for column in set(cfg.features.categorical_columns) & set(matrix.columns):
        matrix[column] = matrix[column].astype("category")
    return matrix
