"""The report's sections for acting: the call list, each customer with the reasons in words and a
small waterfall of the contributions, and the audience-size chooser.

Pure: the scores, the model and the day's feature rows in, `reporting.html` sections out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import feature_family
from models.decisions import budget_size, call_list
from reporting import figures, numbers
from reporting import html as page
from reporting.sections import ReportInputs
from reporting.words import currency_of, family_label, money_format, percent

AUDIENCE_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
STEP_WORDS = {"start": "typical customer", "rest": "other signals"}


def call_list_section(inputs: ReportInputs, rows: int) -> page.Section:
    """The top `rows` customers by expected profit (never control, never tier other), as
    `churn export` writes them, each with a waterfall of what moves its risk."""
    currency = currency_of(inputs.cfg)
    section = page.Section(
        "call-list",
        "Call list",
        f"The {rows} customers whose action is worth most today (expected profit, highest "
        "first); the control group and tier other are never on it. Customers appear by their "
        "pseudonymous id, as in the scores. Each bar chart starts from the typical customer's "
        "risk and adds the signal families that raise this customer's risk most, the rest "
        "together, and the family that lowers it most, ending at the customer's churn "
        "probability. The command churn export writes the whole list for a CRM.",
    )
    calls = call_list(inputs.scores, rows, currency)
    if calls.empty:
        return section.add(page.paragraph("No customer is to be contacted today.", "note"))
    charts = customer_waterfalls(inputs, calls["customer_id"])
    reasons = calls[["reason_1", "reason_2", "reason_3"]].astype("object")
    why = [
        page.bullets(str(r) for r in row if isinstance(r, str)) + charts.get(customer, "")
        for customer, row in zip(calls["customer_id"], reasons.to_numpy(), strict=True)
    ]
    table = pd.DataFrame(
        {
            "tier and action": (calls["tier"].astype(str) + ": " + calls["action"]).to_numpy(),
            "value": calls["value"].to_numpy(),
            "churn probability": calls["churn_probability"].to_numpy(),
            "expected profit": calls["expected_profit"].to_numpy(),
            "why, and what moves the risk": why,
        },
        index=pd.Index(calls["customer_id"].astype(str), name="customer"),
    )
    amount = money_format(currency, cents=True)
    section.add(
        page.table(
            table,
            {"value": amount, "expected profit": amount, "churn probability": percent},
            "call-list-table",
            markup=["why, and what moves the risk"],
            widths=["7.5em", "16%", "6.5em", "6.5em", "6.5em", None],
        )
    )
    if not charts:
        section.add(page.paragraph("The waterfalls need the dataset (--data).", "note"))
    return section


def customer_waterfalls(inputs: ReportInputs, customers: pd.Series) -> dict[str, str]:
    """Per customer on the list: the waterfall of exact contributions, recomputed on just
    these customers' feature rows (empty without the model or the features)."""
    if inputs.bundle is None or inputs.features is None:
        return {}
    rows = inputs.features[inputs.features["customer_id"].isin(set(customers))]
    if rows.empty:
        return {}
    bundle = inputs.bundle
    contributions = bundle.contributions(rows)
    profile = inputs.cfg.features.profile_columns
    families = {name: feature_family(name, profile) for name in bundle.spec.names}
    bars = {
        str(customer): waterfall_bars(
            numbers.waterfall_steps(row, families, bundle.calibrator.apply)
        )
        for customer, (_, row) in zip(rows["customer_id"], contributions.iterrows(), strict=True)
    }
    # One scale for the whole list, so the customers' bars compare.
    top = max(max(start, end) for steps in bars.values() for _, _, start, end, _ in steps)
    return {customer: page.waterfall(steps, top) for customer, steps in bars.items()}


def waterfall_bars(steps: pd.DataFrame) -> list[tuple[str, str, float, float, str]]:
    """The waterfall's rows for `page.waterfall`: the start, each step in points of
    probability, and the customer's churn probability."""
    bars = []
    for step in steps.itertuples():
        label = STEP_WORDS.get(step.kind) or family_label(step.family)
        if step.kind == "start":
            bars.append((label, "base", 0.0, step.probability, f"{step.probability:.0%}"))
            continue
        change = step.probability - step.probability_before
        kind = "up" if change >= 0 else "down"
        points = f"{change * 100:+.1f} pts"
        bars.append((label, kind, step.probability_before, step.probability, points))
    final = float(steps["probability"].iloc[-1])
    bars.append(("churn risk", "base", 0.0, final, f"{final:.0%}"))
    return bars


def audience_section(inputs: ReportInputs) -> page.Section:
    """How many to contact: customers contacted against churners reached, precision and
    expected profit at several audience sizes, best expected profit first."""
    cfg = inputs.cfg
    currency = currency_of(cfg)
    decisions = cfg.decisions
    fallback_name = decisions.high["default"]
    fallback = decisions.actions[fallback_name]
    section = page.Section(
        "audience",
        "How many customers to contact",
        "Contacting customers in order of expected profit, as the nightly job ranks them: "
        "churners reached is what their probabilities expect, precision the expected share of "
        "churners among those contacted, and expected profit the sum over them, each with the "
        "action the job chose; customers the job left out (tier other) are priced with "
        f'"{fallback.label}". The budget is the configured contact budget.',
    )
    scores = inputs.scores
    curve = numbers.audience_curve(scores, fallback)
    if curve.empty:
        return section.add(page.paragraph("No customer was scored.", "note"))
    budget = budget_size(len(scores), decisions)
    table = numbers.audience_table(
        curve, numbers.audience_sizes(len(scores), AUDIENCE_SHARES, budget)
    )
    shown = pd.DataFrame(
        {
            "customers contacted": table["contacted"].astype("int64"),
            "share of scored": table["contacted_share"],
            "churners reached (expected)": table["churners_reached"],
            "share of all churners": table["churners_share"],
            "precision": table["precision"],
            "expected profit": table["expected_profit"],
        },
        index=table.index,
    )
    best = int(np.argmax(curve["expected_profit"].to_numpy()))
    section.add(
        page.table(
            shown,
            {
                "share of scored": percent,
                "churners reached (expected)": lambda v: f"{float(v):,.1f}",
                "share of all churners": percent,
                "precision": percent,
                "expected profit": money_format(currency),
            },
            "audience-table",
        ),
        page.paragraph(
            f"Expected profit peaks at {best + 1:,} customers "
            f"({curve['contacted_share'].iloc[best]:.1%} of those scored): "
            f"{money_format(currency)(curve['expected_profit'].iloc[best])}.",
        ),
        page.image(
            figures.audience_chart(curve, table, currency),
            "expected profit and churners reached by audience size",
        ),
    )
    return section
