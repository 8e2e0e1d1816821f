"""profile features (placeholder until the feature builders land)."""

from features.registry import register


@register(family="profile", reason="profile")
def profile_attributes(ctx):
    """profile_attributes."""
    raise NotImplementedError
