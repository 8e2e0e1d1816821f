"""One module per signal family; each registers its builders on import."""
