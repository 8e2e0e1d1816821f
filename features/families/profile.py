"""Profile: CRM attributes chosen in config (plan, country, ...), passed through as they are."""

from __future__ import annotations

import ibis

from features.context import FeatureContext
from features.errors import ConfigError
from features.registry import register


@register(family="profile", reason="profile", source="customers", missing=None)
def profile_attributes(ctx: FeatureContext) -> dict[str, ibis.Value]:
    """The customer attributes listed in features.profile_columns (categoricals stay strings)."""
    customers = ctx.customers
    missing = [c for c in ctx.cfg.features.profile_columns if c not in customers.columns]
    if missing:
        raise ConfigError(
            f"features.profile_columns {missing} are not columns of table customers "
            f"(it has {sorted(customers.columns)}); fix the list in the config"
        )
    categorical = set(ctx.cfg.features.categorical_columns)
    return {
        name: customers[name].cast("string")
        if name in categorical
        else customers[name].cast("float64")
        for name in ctx.cfg.features.profile_columns
    }
