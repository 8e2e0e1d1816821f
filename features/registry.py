"""The feature-builder registry: each builder is registered with its family and reason wording.

A builder is a function `(ctx: FeatureContext) -> ibis expression | None` named for the feature it
returns. The expression is a reduction over one of the context's event sources (so all builders
reading the same source run as one aggregation), written once in Ibis so DuckDB and Spark run
the same definition. A builder returns None when its signal family has no mapped events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import import_module
from typing import Literal

FAMILY_MODULES = (
    "features.families.web_journey",
    "features.families.support",
    "features.families.activity",
    "features.families.email",
    "features.families.value",
    "features.families.profile",
)

# Where a builder's reduction runs: see `features.context.FeatureContext`.
Source = Literal["events", "activity_days", "web_sequences", "emails", "customers"]


@dataclass(frozen=True)
class Wording:
    """How a feature reads to a marketer (`models.explain` fills these in).

    `reason` is the sentence for a customer's value, with one placeholder for it:
    `{value:<format spec>}` (the number, e.g. `{value:.0%}`), `{n:<one>|<many>}` (a whole count
    with its noun: "1 payment", "3 payments"; `{n:time|times}` reads "once", "twice", "3 times"),
    `{money}` (an amount in the config's currency) or `{days_ago}` ("today", "yesterday",
    "12 days ago"). The word "only" is kept only when the customer's value is below the
    model's typical one and it raises risk ("spends only $9.00 a month"), and dropped otherwise.
    `missing` is the sentence when the value is missing (e.g. "has not visited the cancel page
    in the last {lookback}", filled with the config's lookback) and `zero` the sentence when
    it is 0, each None for the generic wording. `label` names the feature in words (charts,
    generic sentences): never the snake_case column name.
    """

    label: str
    reason: str
    missing: str | None = None
    zero: str | None = None


@dataclass(frozen=True)
class FeatureBuilder:
    name: str
    family: str
    description: str
    # Words a marketer reads when this feature pushes risk up, e.g. "visited the cancel page".
    wording: Wording
    source: Source
    # Value for customers with no events in the source: 0 for counts, None (missing) for
    # "days since" features, where no event is not the same as an event today.
    missing: float | None
    build: Callable

    @property
    def reason(self) -> str:
        return self.wording.reason


_REGISTRY: dict[str, FeatureBuilder] = {}


def register(
    family: str,
    reason: str,
    source: Source = "events",
    missing: float | None = 0.0,
    *,
    label: str | None = None,
    missing_reason: str | None = None,
    zero_reason: str | None = None,
) -> Callable[[Callable], Callable]:
    """Register a builder under its function name; its docstring's first line is the description.
    `reason`, `missing_reason`, `zero_reason` and `label` are its `Wording` (the label defaults
    to the name in words)."""

    def decorate(func: Callable) -> Callable:
        description = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        wording = Wording(label or words_of(func.__name__), reason, missing_reason, zero_reason)
        _REGISTRY[func.__name__] = FeatureBuilder(
            func.__name__, family, description, wording, source, missing, func
        )
        return func

    return decorate


def words_of(name: str) -> str:
    """A column name in words: underscores become spaces."""
    return name.replace("_", " ")


def available_builders() -> dict[str, FeatureBuilder]:
    """All registered builders; importing the family modules registers them."""
    for module in FAMILY_MODULES:
        import_module(module)
    return dict(_REGISTRY)


PROFILE_FAMILY = "profile"


def feature_family(name: str, profile_columns: Collection[str]) -> str:
    """The signal family of a feature column (profile attributes belong to 'profile')."""
    if name in profile_columns:
        return PROFILE_FAMILY
    return available_builders()[name].family


def feature_wording(name: str, profile_columns: Collection[str]) -> Wording:
    """How a feature column reads to a marketer; a profile attribute reads "<column> is <value>"
    (see `models.explain`), labelled by its column name in words."""
    if name in profile_columns:
        return Wording(label=words_of(name), reason="{label} is {value}")
    return available_builders()[name].wording
