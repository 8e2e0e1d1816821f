"""The report's plain words: feature and family labels, money in the configured currency, the
churn definition as a sentence. Nothing the report shows names a column in snake_case."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from features.config import Config
from features.registry import feature_wording, words_of
from models.explain import CURRENCY_SYMBOLS


def feature_labels(names: Iterable[str], cfg: Config) -> dict[str, str]:
    """Each feature's label from the registry's wording (a profile column in words); a column
    the registry does not know (a hand-made matrix) in plain words from its name."""
    profile = cfg.features.profile_columns
    labels = {}
    for name in names:
        try:
            labels[name] = feature_wording(name, profile).label
        except KeyError:
            labels[name] = name.replace("_", " ")
    return labels


def input_label(name: str, cfg: Config) -> str:
    """A drift input in words: a feature's label, or "the churn score"."""
    if name == "score":
        return "the churn score"
    try:
        return feature_labels([name], cfg)[name]
    except KeyError:  # a feature this code no longer builds
        return words_of(name)


def family_label(family: str) -> str:
    """A signal family in words: "web journey", "support"."""
    return words_of(family) if family else "—"


def currency_of(cfg: Config) -> str:
    """The currency money is shown in (decisions.currency)."""
    return cfg.decisions.currency


def money(value: object, currency: str, cents: bool = False) -> str:
    """An amount with its currency: "$1,234", "€12.50", "CHF 1,234"; an em dash for none."""
    number = float(value)  # type: ignore[arg-type]
    if not np.isfinite(number):
        return "—"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    amount = f"{abs(number):,.2f}" if cents else f"{abs(number):,.0f}"
    sign = "-" if number < 0 and amount.strip("0.,") else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{currency} {amount}"


def money_format(currency: str, cents: bool = False) -> Callable[[object], str]:
    """A table formatter for amounts in `currency`."""
    return lambda value: money(value, currency, cents)


def percent(value: object, digits: int = 1) -> str:
    return f"{float(value):.{digits}%}"  # type: ignore[arg-type]


def churn_definition(cfg: Config) -> str:
    """What churn means for this model, as one sentence."""
    churn = cfg.churn
    horizon = cfg.snapshots.horizon_days
    if churn.source == "events":
        names = " or ".join(churn.events)
        noun = "event" if len(churn.events) == 1 else "events"
        return (
            f"a customer churns when they send a {names} {noun} within {horizon} days after "
            "the cutoff"
        )
    if churn.source == "inactivity":
        return f"a customer churns when they are inactive for {churn.inactive_days} days"
    return "a customer churns as given by the labels table"
