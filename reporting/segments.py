"""The report's sections by group of customers: risk and tier mix by profile (plan, country...),
the drivers of each tier grouped by family and template, and the protective factors.

Pure: scores, profiles and the reason templates in, `reporting.html` sections out.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from features.registry import words_of
from models.decisions import TIERS
from models.explain import ReasonTemplate
from reporting import html as page
from reporting import numbers
from reporting.sections import ReportInputs
from reporting.words import currency_of, family_label, money_format, percent

TemplateOf = Callable[[str], ReasonTemplate]


def segments_section(inputs: ReportInputs) -> page.Section:
    """Risk and tier mix by each categorical profile column of the customers table."""
    section = page.Section(
        "segments",
        "Segments",
        "Churn risk and the tier mix by each category of the customers' profile "
        "(features.categorical_columns), the largest groups first.",
    )
    columns = list(inputs.cfg.features.categorical_columns)
    profiles = inputs.profiles
    if not columns:
        return section.add(page.paragraph("No categorical profile column is configured.", "note"))
    if profiles is None:
        return section.add(page.paragraph("Needs the dataset (--data).", "note"))
    amount = money_format(currency_of(inputs.cfg))
    shown = [c for c in columns if c in profiles.columns]
    for column in shown:
        table = numbers.segment_table(inputs.scores, profiles, column)
        table.columns = [
            "customers", "mean churn probability", *(f"{t} tier" for t in TIERS),
            "revenue at risk",
        ]  # fmt: skip
        formats = {c: percent for c in table.columns if c.endswith("tier")}
        section.add(
            page.heading(f"By {words_of(column)}"),
            page.table(
                table,
                {**formats, "mean churn probability": percent, "revenue at risk": amount},
                f"segment-{column}",
                index_label=words_of(column),
            ),
        )
    missing = sorted(set(columns) - set(shown))
    if missing:
        section.add(page.paragraph(f"Not in the customers table: {', '.join(missing)}.", "note"))
    return section


def driver_table(groups: pd.DataFrame, what: str) -> pd.DataFrame:
    """Driver groups for display: the wording, its family in words, customers and share."""
    return pd.DataFrame(
        {
            "signal family": [family_label(f) for f in groups["family"]],
            "customers": groups["customers"].astype("int64").to_numpy(),
            "share": groups["share"].to_numpy(),
        },
        index=pd.Index(groups["driver"].to_numpy(), name=what),
    )


def protective_section(scores: pd.DataFrame, template_of: TemplateOf) -> page.Section:
    """The most common protective factors per tier, grouped like the drivers."""
    section = page.Section(
        "protective",
        "Protective factors",
        "What keeps customers: the signal family lowering each customer's risk the most (its "
        "protective factor), counted per tier and grouped by its wording with the number left "
        "out. A customer whose risk nothing lowers by more than the reason floor has none.",
    )
    cells = []
    for tier in TIERS:
        size = int((scores["tier"] == tier).sum())
        groups = numbers.driver_groups(scores, tier, template_of, ("protective_factor",), top=6)
        body = (
            page.table(
                driver_table(groups, "protective factor"), {"share": percent}, f"protective-{tier}"
            )
            if len(groups)
            else page.paragraph("None in this tier.", "note")
        )
        cells.append(page.heading(f"{tier.capitalize()} tier ({size:,} customers)") + body)
    return section.add(page.grid(*cells))
