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
class FeatureBuilder:
    name: str
    family: str
    description: str
    # Words a marketer reads when this feature pushes risk up, e.g. "visited the cancel page".
    reason: str
    source: Source
    # Value for customers with no events in the source: 0 for counts, None (missing) for
    # "days since" features, where no event is not the same as an event today.
    missing: float | None
    build: Callable


_REGISTRY: dict[str, FeatureBuilder] = {}


def register(
    family: str, reason: str, source: Source = "events", missing: float | None = 0.0
) -> Callable[[Callable], Callable]:
    """Register a builder under its function name; its docstring's first line is the description."""

    def decorate(func: Callable) -> Callable:
        description = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        _REGISTRY[func.__name__] = FeatureBuilder(
            func.__name__, family, description, reason, source, missing, func
        )
        return func

    return decorate


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


def feature_reason(name: str, profile_columns: Collection[str]) -> str:
    """The words a marketer reads when this feature pushes churn risk up."""
    if name in profile_columns:
        return f"profile: {name.replace('_', ' ')}"
    return available_builders()[name].reason
