"""Fast tests of pure steps: builders, split, explanations, tiers, drift, report numbers."""
