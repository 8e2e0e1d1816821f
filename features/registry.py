"""The feature-builder registry: each builder is registered with its family and reason wording.

A builder is a function `(ctx: FeatureContext) -> dict[str, ibis expression]` written once as
Ibis expressions so that DuckDB and Spark run the same definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

FAMILY_MODULES = (
    "features.families.web_journey",
    "features.families.support",
    "features.families.activity",
    "features.families.email",
    "features.families.value",
    "features.families.profile",
)


@dataclass(frozen=True)
class FeatureBuilder:
    name: str
    family: str
    description: str
    # Words a marketer reads when this feature pushes risk up, e.g. "visited the cancel page".
    reason: str
    build: Callable


_REGISTRY: dict[str, FeatureBuilder] = {}


def register(family: str, reason: str) -> Callable[[Callable], Callable]:
    """Register a builder under its function name; its docstring's first line is the description."""

    def decorate(func: Callable) -> Callable:
        description = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        _REGISTRY[func.__name__] = FeatureBuilder(func.__name__, family, description, reason, func)
        return func

    return decorate


def available_builders() -> dict[str, FeatureBuilder]:
    """All registered builders; importing the family modules registers them."""
    for module in FAMILY_MODULES:
        import_module(module)
    return dict(_REGISTRY)
