"""The typed configuration: loaded once at the CLI edge, validated by pydantic.

Every section forbids unknown keys, so a typo fails at load with its path in the file instead of
being silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from features.contract import CUSTOMERS, EVENTS, LABELS
from features.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSource(Section):
    """Where one table lives under --data and what its contract columns are called there."""

    # A file or a folder of parts, relative to --data (Parquet, CSV, CSV.gz, JSON lines, .gz);
    # default: found by the table's name (events.parquet, events/, events.csv, events.jsonl...).
    path: str | None = None
    # Contract column -> the column's name in the export, e.g. {customer_id: user_id}.
    columns: dict[str, str] = {}


class DataSources(Section):
    """How a user's export maps onto the data contract (`features.dataset`)."""

    # The zone of timestamps stored without one (e.g. Europe/Berlin); default: such timestamps
    # are refused, since guessing a zone moves every event across the cutoff.
    timezone: str | None = None
    customers: TableSource = TableSource()
    events: TableSource = TableSource()
    labels: TableSource = TableSource()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is None:
            return zone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return zone

    @model_validator(mode="after")
    def _contract_columns(self) -> DataSources:
        for schema in (CUSTOMERS, EVENTS, LABELS):
            unknown = sorted(set(getattr(self, schema.name).columns) - set(schema.names))
            if unknown:
                raise ValueError(
                    f"data.{schema.name}.columns: {unknown} are not {schema.name} columns of the "
                    f"contract; map these: {schema.names} (contract name: name in your export)"
                )
        return self


class Signals(Section):
    """Which event names mean what. A family with no names yields no features."""

    # Help/FAQ page views: visits, and the FAQ-then-cancel journey with cancel_page.
    faq_page: list[str] = []
    # Views of the cancellation page.
    cancel_page: list[str] = []
    # Calls, chats or tickets with the support desk.
    support_contact: list[str] = []
    # Marketing emails sent (what opens are counted against).
    email_sent: list[str] = []
    # Opens of those emails.
    email_open: list[str] = []
    # Use of the product (logins, sessions, page views): recency and active days, and for churn
    # by inactivity, who is still a customer.
    activity: list[str] = []
    # Payments, the event's value being the amount: revenue features and the customer's value.
    payment: list[str] = []


class Churn(Section):
    """How a label is derived: a contractual churn event, inactivity, or a given labels table."""

    # "events": one of churn.events (contractual churn); "inactivity": no activity event in the
    # label window; "labels": the dataset's labels table says who churned as of each cutoff.
    source: Literal["events", "inactivity", "labels"]
    # Event names that mean the customer left, e.g. [subscription_cancelled] (source events).
    events: list[str] = []
    # Source inactivity: a customer with no activity event for this many days has lapsed, and a
    # snapshot leaves lapsed customers out (see snapshots.active_within_days).
    inactive_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _source_has_its_setting(self) -> Churn:
        if self.source == "events" and not self.events:
            raise ValueError(
                "churn.source 'events' needs churn.events (e.g. [subscription_cancelled])"
            )
        if self.source == "inactivity" and self.inactive_days is None:
            raise ValueError("churn.source 'inactivity' needs churn.inactive_days (e.g. 182)")
        return self


class Snapshots(Section):
    """Cutoffs: an explicit list, or `count` cutoffs `every_days` apart ending at `last_cutoff`
    (default: the latest cutoff whose label horizon has fully passed in the data)."""

    # Explicit cutoff dates; when given, every_days, count and last_cutoff are not used.
    cutoffs: list[date] | None = None
    # Days between generated cutoffs.
    every_days: int = Field(default=30, gt=0)
    # How many cutoffs to generate (the latest labelled one is the out-of-time test).
    count: int = Field(default=6, ge=1)
    # The latest generated cutoff; default: the latest whose label window has fully passed.
    last_cutoff: date | None = None
    # The label window [cutoff, cutoff + horizon); the time split's embargo uses it, also for
    # labels given in a labels table (churn.source: labels), which carry no horizon of their own.
    horizon_days: int = Field(default=30, gt=0)
    # How far back before a cutoff the features read events: [cutoff - lookback, cutoff).
    lookback_days: int = Field(default=365, gt=0)
    # Exclusive end of observation; default: the day after the last event. A label needs
    # cutoff + horizon <= observed_until, otherwise the cutoff is unlabelled.
    observed_until: date | None = None
    # Non-contractual churn only: a customer is in a snapshot if active within this many days
    # before the cutoff (default: churn.inactive_days, i.e. not yet lapsed); "all" keeps every
    # customer who signed up before the cutoff (the convention of the CDNOW literature).
    active_within_days: int | Literal["all"] | None = None


class Validation(Section):
    """What the data-contract check tolerates (`features.validation`); every command that reads
    a dataset runs it, and `churn validate` runs only it."""

    # Share of events whose customer is not in the customers table: below it they are dropped
    # and counted, above it validation fails.
    max_unknown_customer_share: float = Field(default=0.01, ge=0, le=1)
    # Payments (signals.payment) with a negative value fail validation unless this is true.
    allow_negative_amounts: bool = False
    # Email opens per send, per customer and 30-day window (the sends of that window and of the
    # one before count, so a send opened after the window's turn is covered); above it, it fails.
    max_opens_per_send: float = Field(default=1.0, gt=0)
    # A setting (a signal family, churn.events) none of whose event names occurs: "error" (a
    # typo until shown otherwise: the signal, or churn, would silently be zero) or "warn" (a
    # generic config over partial data). A single absent name beside occurring ones warns.
    absent_event_names: Literal["error", "warn"] = "error"


class Features(Section):
    """Which features the model sees: registered builders by name, and customers columns."""

    # Feature builders by name (features/families; an unknown name fails with the known ones).
    builders: list[str] = Field(min_length=1)
    # Customers columns passed through as features by the profile_attributes builder.
    profile_columns: list[str] = []
    # Those of the profile columns that are categories (plan, country), not numbers.
    categorical_columns: list[str] = []

    @field_validator("builders")
    @classmethod
    def _builders_exist(cls, names: list[str]) -> list[str]:
        from features.registry import available_builders

        known = available_builders()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"unknown feature builder(s) {unknown}; known builders: {sorted(known)}"
            )
        return names


class Training(Section):
    """How `churn train` tunes, fits, calibrates and judges a model, and when it is promoted."""

    # Seeds the search, the fits and the splits, so a rerun on the same data repeats itself.
    seed: int = 42
    # Optuna trials of the hyperparameter search (`churn train --trials` overrides it).
    trials: int = Field(default=20, ge=1)
    # Stop the search after this many seconds even if trials remain; default: no limit.
    timeout_seconds: float | None = Field(default=None, gt=0)
    # What the search optimises on the validation rows: log loss (lower) or PR AUC (higher).
    objective: Literal["log_loss", "pr_auc"] = "log_loss"
    # The registered model and experiment name; it also names folders and URIs, so no paths.
    model_name: str = "churn"
    # The new model must be no worse than the champion by more than this on each gate metric.
    promotion_margin: float = Field(default=0.0, ge=0)
    # The new model must also beat its own logistic-regression baseline's ROC AUC on the test.
    require_beating_baseline: bool = True
    # Fewer test churners than this: the metrics are noise; the gate warns and says so.
    min_test_churners: int = Field(default=30, ge=0)
    # Upper bounds of the search space keep trees small so exact TreeSHAP on 1M rows stays fast.
    max_leaves: int = Field(default=63, ge=4)
    # Most boosting rounds a fit may use (early stopping usually ends it sooner).
    max_boost_rounds: int = Field(default=600, ge=10)
    # A fit stops after this many rounds without improving on the validation rows.
    early_stopping_rounds: int = Field(default=50, ge=5)
    # Fixed thread count: deterministic mode is only reproducible at equal threads. One thread by
    # default: with 2 threads on a busy 2-core machine OpenMP spin-waits made fits ~200x slower.
    num_threads: int = Field(default=1, ge=1)
    # Probability calibration of the raw score; "auto" picks the one with the lower
    # out-of-fold log loss on the validation rows.
    calibration: Literal["auto", "platt", "isotonic"] = "auto"
    # Time split embargo (models.split): validation's label window always closes by the test
    # cutoff; "strict": a training cutoff's window also closes by the validation cutoff;
    # "test_only": training windows may overlap validation's, never the test's (for data too
    # short for strict, e.g. 18 months with a 182-day horizon); the split says which.
    embargo: Literal["strict", "test_only"] = "strict"
    # Recency/frequency/value columns for the logistic-regression baseline (those present).
    baseline_features: list[str] = [
        "days_since_last_activity",
        "purchases_365d",
        "revenue_365d",
        "tenure_days",
    ]
    # A single feature whose own ROC AUC (or 1 - AUC) exceeds this on the test set is flagged.
    leakage_auc: float = Field(default=0.95, gt=0.5, le=1)
    # Single-snapshot datasets: shares of customers held out for validation and test.
    valid_share: float = Field(default=0.2, gt=0, lt=0.5)
    # Single-snapshot datasets without a given train/test division: the test's share.
    test_share: float = Field(default=0.2, gt=0, lt=0.5)
    # Single-snapshot datasets: tuning, early stopping and calibration use stratified k-fold
    # cross-validation over all non-test customers instead of one small validation slice.
    cv_folds: int = Field(default=5, ge=2, le=20)

    @field_validator("model_name")
    @classmethod
    def _plain_model_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
            raise ValueError(
                f"{name!r}: use letters, digits, '-', '_' and '.' only (up to 100, starting "
                "with a letter or digit), e.g. churn-telecom"
            )
        return name


class ValueSpec(Section):
    """A customer's value: `expected` revenue over the next `horizon_days` (a model of next-period
    spend, trained out of time like the churn model; needs payment events and churn derived from
    events), for subscriptions `subscription` (the price in `price_column` times the periods the
    churn model expects the customer to stay, out of the next `periods` label horizons),
    trailing `revenue` over `revenue_days`, or a customers `column`."""

    # Where value comes from: see the section's description above.
    source: Literal["expected", "subscription", "revenue", "column"] = "expected"
    # Subscription value: the matrix column with the price per label horizon (e.g. the monthly
    # plan price with a 30-day horizon).
    price_column: str | None = None
    # Subscription value: how many label horizons ahead count (12 monthly periods: a year).
    periods: int = Field(default=12, ge=1)
    # Expected revenue's horizon; default snapshots.horizon_days, and never longer (a longer
    # revenue window would reach past the embargo into the test window).
    horizon_days: int | None = Field(default=None, gt=0)
    # Trailing revenue's window in days (source revenue).
    revenue_days: int = Field(default=365, gt=0)
    # The customers column holding each customer's value (source column).
    column: str | None = None

    @model_validator(mode="after")
    def _column_named(self) -> ValueSpec:
        if self.source == "column" and not self.column:
            raise ValueError("scoring.value.source 'column' needs scoring.value.column")
        if self.source == "subscription" and not self.price_column:
            raise ValueError(
                "scoring.value.source 'subscription' needs scoring.value.price_column (e.g. "
                "plan_price)"
            )
        return self


class Scoring(Section):
    """The nightly scoring job (`churn score`): customer value, drift checks, explanations and
    reasons, and how a scored day is written."""

    value: ValueSpec = ValueSpec()
    # Drift is what moves the model: the calibrated score's PSI, and each feature's shift in
    # mean exact contribution (log-odds). Against the model's reference (its latest training
    # cutoff) they warn and recommend retraining; against the previous scored night of the
    # same model (no more than drift_max_gap_days before) the fail levels fail the job.
    drift_warn_psi: float = Field(default=0.1, gt=0)
    # The score PSI that fails the job against the previous night; against the reference it
    # recommends retraining.
    drift_fail_psi: float = Field(default=0.25, gt=0)
    # A feature's shift in mean contribution (log-odds) beyond this: the same, per feature.
    drift_max_shift: float = Field(default=0.25, gt=0)
    # The previous scored night counts only if it is at most this many days before.
    drift_max_gap_days: int = Field(default=7, ge=1)
    # Features never judged for drift (still shown with their PSI).
    drift_exempt: list[str] = []
    # Customers scored and explained at a time, which bounds the job's memory.
    chunk_customers: int = Field(default=200_000, gt=0)
    # LightGBM threads for prediction and TreeSHAP; 0 = one per core (scoring owns the machine).
    num_threads: int = Field(default=0, ge=0)
    # Exact TreeSHAP either way: "grouped" computes LightGBM's pred_contrib once per distinct
    # decision pattern of each tree (models.contributions), "native" once per row.
    explainer: Literal["grouped", "native"] = "grouped"
    # A family is a reason (or the protective factor) only when its summed contribution is
    # beyond this many log-odds; fewer than three reasons then stay empty. "auto": 0.05 x the
    # standard deviation of the raw score on the model's reference rows, derived at training
    # and stored in its reference.json (models.reference.REASON_FLOOR_SHARE says why).
    reason_floor: NonNegativeFloat | Literal["auto"] = "auto"
    # One run writes a day at a time: a second run of the same day fails at once (0) or waits
    # this many seconds for the first to finish.
    wait_for_lock_seconds: float = Field(default=0.0, ge=0)
    # Versions of a day kept besides the published one, for readers still reading them.
    keep_previous_versions: int = Field(default=1, ge=0)


class Action(Section):
    """Something marketing can do for a customer: what it costs and how often it works.

    Expected profit of acting = churn probability x value x save_rate - offer_cost -
    contact_cost (money in `decisions.currency`). The defaults follow the expected-maximum-
    profit literature (Verbraken et al. 2013: acceptance 0.3, incentive 10, contact 1)."""

    label: str  # The words in the scores and the call list, e.g. "call with a retention offer"
    # Share of the customer's would-be churn the action prevents (acceptance of the offer).
    save_rate: float = Field(default=0.3, ge=0, le=1)
    # What the offer costs when it is taken (a discount, a free month).
    offer_cost: float = Field(default=10.0, ge=0)
    # What reaching the customer costs (an email, an agent's call).
    contact_cost: float = Field(default=1.0, ge=0)
    # A channel (email, phone, sms...) needs the customer's consent when decisions.consent maps
    # it to a customers column; `instead` names the action for those who did not give it (it
    # must not need the same channel); without one they get no action.
    channel: str | None = None
    # The action for customers without the channel's consent (see channel above).
    instead: str | None = None


class Budget(Section):
    """How many customers the team can contact in one run: a share of the scored customers, or
    a fixed count (set exactly one)."""

    # The share of the night's scored customers the team can contact.
    share: float | None = Field(default=None, gt=0, le=1)
    # Or a fixed number of customers a night.
    count: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Budget:
        if (self.share is None) == (self.count is None):
            raise ValueError("set exactly one of decisions.budget.share or decisions.budget.count")
        return self


DEFAULT_ACTIONS = {
    "retention_offer": Action(label="retention offer"),
    "check_in": Action(
        label='"how can we help?" email', save_rate=0.05, offer_cost=0.0, contact_cost=0.1
    ),
}


class Decisions(Section):
    """Who to contact with what (`models.decisions`): tiers by expected profit within a contact
    budget, actions by the top reason, consent per channel, random control groups."""

    # The currency of value, costs and expected profit, as shown in the report and call list.
    currency: str = Field(default="USD", min_length=1)
    # The high tier holds at most this many customers a run.
    budget: Budget = Budget(share=0.05)
    # The catalog of actions by name, which decisions.high and decisions.medium pick from.
    actions: dict[str, Action] = DEFAULT_ACTIONS
    # Top reason -> action name, for the high tier (within the budget) and the medium tier
    # (beyond it: low-cost nurture). A key is a reason family ("support") or a family and the
    # direction of its strongest feature ("value:low": low spend raises the risk); the more
    # specific key wins, then "default".
    high: dict[str, str] = {"default": "retention_offer"}
    # The same for the medium tier.
    medium: dict[str, str] = {"default": "check_in"}
    # Channel -> the customers column holding that channel's marketing consent (true/false,
    # yes/no, 1/0; missing = no consent). Empty: no consent data, every channel allowed.
    consent: dict[str, str] = {}
    # A share of every tier is held out from action to measure whether acting helps. Who is held
    # out is a salted hash of the customer id and the campaign period (days since Monday
    # 1970-01-05 divided by campaign_days: weekly periods run Monday to Sunday), so reruns and
    # every night of one period agree.
    control_share: float = Field(default=0.1, ge=0, lt=1)
    # The length of a campaign period in days: the control group changes once per period.
    campaign_days: int = Field(default=7, ge=1)
    # Salts the control group's hash; change it to draw a new control group.
    control_salt: str = Field(default="churn-control", min_length=1)
    # The promotion gate also requires the new model's expected maximum profit (EMPC) on the
    # test rows to be no lower than the champion's.
    gate_on_profit: bool = False

    @model_validator(mode="after")
    def _actions_known(self) -> Decisions:
        from features.registry import FAMILY_MODULES, PROFILE_FAMILY

        families = {module.rsplit(".", 1)[-1] for module in FAMILY_MODULES} | {PROFILE_FAMILY}
        reasons = families | {f"{f}:{d}" for f in families for d in ("high", "low", "none")}
        for tier in ("high", "medium"):
            table = getattr(self, tier)
            if "default" not in table:
                raise ValueError(f"decisions.{tier} needs a 'default' action")
            # A misspelt reason key would never match and quietly fall back to the default.
            stray = sorted(set(table) - reasons - {"default"})
            if stray:
                raise ValueError(
                    f"decisions.{tier}: {stray} name no reason family; use a family "
                    f"({', '.join(sorted(families))}), optionally with :high, :low or :none"
                )
            unknown = sorted(set(table.values()) - set(self.actions))
            if unknown:
                raise ValueError(
                    f"decisions.{tier} names unknown action(s) {unknown}; define them under "
                    f"decisions.actions (known: {sorted(self.actions)})"
                )
        for name, action in self.actions.items():
            if action.instead is None:
                continue
            alternative = self.actions.get(action.instead)
            if alternative is None:
                raise ValueError(
                    f"decisions.actions.{name}.instead: unknown action {action.instead!r}"
                )
            if alternative.channel is not None and alternative.channel == action.channel:
                raise ValueError(
                    f"decisions.actions.{name}.instead: {action.instead!r} needs the same "
                    f"channel {action.channel!r}; pick a consent-free alternative"
                )
        channels = sorted({a.channel for a in self.actions.values() if a.channel is not None})
        unused = sorted(set(self.consent) - set(channels))
        if unused:
            # A channel no action uses is a typo until shown otherwise: the action's own channel
            # would then go out without anyone's consent.
            raise ValueError(
                f"decisions.consent.{unused[0]}: no action in decisions.actions has channel "
                f"{unused[0]!r} (channels used: {channels or 'none'}); name a channel the "
                "actions use, or remove it"
            )
        for name in self.actions:
            chain = [name]
            while (following := self.actions[chain[-1]].instead) is not None:
                if following in chain:
                    raise ValueError(
                        f"decisions.actions.{name}.instead: {' -> '.join([*chain, following])} "
                        "goes round in a circle; end it with an action that needs no channel"
                    )
                chain.append(following)
        return self


class FeedSettings(Section):
    """Feed health and freshness, checked before anything is scored (`features.feed`).

    Each mapped signal's daily volume over the last `recent_days` is compared with the same
    number of days before them and with the `baseline_days` before them, in the same data."""

    # The recent window judged, in days before --as-of.
    recent_days: int = Field(default=14, ge=1)
    # The baseline before it that says what volume is usual.
    baseline_days: int = Field(default=90, ge=7)
    # Fail when a signal's daily volume falls by more than this share against the same number of
    # days just before (a sudden fall), or by more than max_stop against the whole baseline.
    max_drop: float = Field(default=0.5, gt=0, lt=1)
    # The largest fall against the whole baseline: a feed that stopped, however long ago.
    max_stop: float = Field(default=0.9, gt=0, lt=1)
    # Fail when the share of events without a value (or a session) rises by more than this.
    max_null_jump: float = Field(default=0.2, gt=0, le=1)
    # Fail when the mean value per event changes by more than this factor either way.
    max_value_ratio: float = Field(default=3.0, gt=1)
    # Judge a signal only when its baseline expects this many events in the recent window.
    min_expected_events: int = Field(default=50, ge=1)
    # Events must reach the day before --as-of, less this many days of allowed lateness.
    lateness_days: int = Field(default=0, ge=0)
    # Signals (e.g. email_sent for campaigns that can pause for weeks) whose volume is shown but
    # never fails the night.
    exempt: list[str] = []


class EngineSettings(Section):
    """How every command opens and queries a dataset."""

    # DuckDB memory cap while validating and building features, for every command (it spills
    # beyond it); null leaves DuckDB's default of 80% of RAM.
    duckdb_memory_limit: str | None = Field(default="2GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")


class ReportSettings(Section):
    """What the SHAP summary of a training run and the HTML report draw from."""

    # Rows explained for the beeswarm and dependence plots (a seeded sample).
    shap_sample_rows: int = Field(default=2000, ge=100)
    # Customers on the report's call list (highest expected profit first, never control/other).
    call_list_rows: int = Field(default=25, ge=1)


class BacktestSettings(Section):
    """When `churn backtest` flags a matured night "retrain recommended"."""

    # Observed churners over the churners the night's calibrated probabilities expected.
    observed_to_expected_band: tuple[float, float] = (0.8, 1.25)
    # How far the night's ROC AUC may fall below the model's out-of-time test AUC.
    max_auc_drop: float = Field(default=0.05, ge=0, le=1)
    # A gap must also exceed this many standard errors of the night's own noise (the
    # Poisson-binomial sd of its churner count; Hanley-McNeil for its AUC), so that a small
    # night does not cry wolf; 0 flags on the band and the drop alone.
    significance_sd: float = Field(default=3.0, ge=0)

    @field_validator("observed_to_expected_band")
    @classmethod
    def _band_holds_one(cls, band: tuple[float, float]) -> tuple[float, float]:
        if not 0 < band[0] <= 1 <= band[1]:
            raise ValueError("must be [low, high] with 0 < low <= 1 <= high, e.g. [0.8, 1.25]")
        return band


# The config sections that decide what the feature builders compute.
FEATURE_SECTIONS = ("signals", "churn", "snapshots", "features")


class Config(Section):
    """A whole config: `name`, `signals`, `churn` and `features` must be given; every other
    section and key has a default."""

    # What the config is for, usually the dataset (synthetic, cdnow); titles the report.
    name: str
    data: DataSources = DataSources()
    signals: Signals
    churn: Churn
    snapshots: Snapshots = Snapshots()
    validation: Validation = Validation()
    features: Features
    training: Training = Training()
    scoring: Scoring = Scoring()
    decisions: Decisions = Decisions()
    feed: FeedSettings = FeedSettings()
    engine: EngineSettings = EngineSettings()
    report: ReportSettings = ReportSettings()
    backtest: BacktestSettings = BacktestSettings()

    @model_validator(mode="after")
    def _value_is_supported(self) -> Config:
        value = self.scoring.value
        if value.horizon_days is not None and value.horizon_days > self.snapshots.horizon_days:
            raise ValueError(
                f"scoring.value.horizon_days ({value.horizon_days}) is longer than "
                f"snapshots.horizon_days ({self.snapshots.horizon_days}), the label horizon the "
                "split's embargo is built for: shorten it or lengthen snapshots.horizon_days"
            )
        if value.source != "expected":
            return self
        fix = "or choose scoring.value.source: revenue (trailing spend) or column"
        if not self.signals.payment:
            raise ValueError(
                "scoring.value.source 'expected' learns next-period spend from payment events, "
                f"and signals.payment maps none: map them {fix}"
            )
        if self.churn.source == "labels":
            raise ValueError(
                "scoring.value.source 'expected' needs churn derived from events (given labels "
                f"say nothing of whether the revenue after each as_of was observed): {fix}"
            )
        return self

    def fingerprint(self) -> str:
        """A stable hash of the validated config, stored with models to detect mismatches."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def features_fingerprint(self) -> str:
        """A hash of only the sections that decide the features, so scoring can refuse a model
        built on other features while tier or training edits do not invalidate it."""
        dumped = self.model_dump(mode="json", include=set(FEATURE_SECTIONS))
        text = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a YAML config; errors name the file and the key path."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; pass --config FILE") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Config.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None


# Keys that moved to another section: the error says where they live now.
MOVED_KEYS = {
    "scoring.duckdb_memory_limit": "engine.duckdb_memory_limit",
    "training.shap_sample_rows": "report.shap_sample_rows",
    "scoring.tiers": "decisions (tiers now follow expected profit within decisions.budget)",
    "scoring.actions": "decisions.high and decisions.medium (actions in decisions.actions)",
}


def _describe(err: dict) -> str:
    """One pydantic error as `key.path: message`, pointing a moved key to its new place."""
    key = ".".join(str(part) for part in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden" and key in MOVED_KEYS:
        return f"{key}: moved to {MOVED_KEYS[key]}"
    return f"{key}: {err['msg']}"
