"""The report's sections over time: night over night from the scored days' manifests, the day's
drift and feed health, and the backtest ledger (predicted against observed, AUC over time,
treated against control).

Pure: manifests (as dicts) and the ledger in, `reporting.html` sections out.
"""

from __future__ import annotations

import pandas as pd

from features.feed import has_event_feed
from reporting import figures, numbers
from reporting import html as page
from reporting.sections import ReportInputs, allowed_drift_words
from reporting.words import currency_of, money_format, percent

SHOWN_INPUTS = 8
QUALITY_WORDS = {
    "events": "events read",
    "events_kept": "events kept",
    "duplicate_events_dropped": "duplicate events dropped",
    "unknown_customer_events_dropped": "events of unknown customers dropped",
    "unknown_customer_share": "share of events of unknown customers",
    "events_before_signup": "events before signup",
}


def nights_section(inputs: ReportInputs) -> page.Section:
    """Tier counts, mean risk, revenue at risk, expected profit, drift and feed per night."""
    section = page.Section(
        "nights",
        "Night over night",
        "Every scored day up to this one, from the manifests in the scores folder. Expected "
        "profit is that of the actions taken (the control group is left out); events dropped "
        "are exact duplicates and events of unknown customers, removed by validation.",
    )
    frame = numbers.nights_frame(inputs.nights, has_event_feed(inputs.cfg))
    if frame.empty:
        return section.add(page.paragraph("No scored day has a manifest.", "note"))
    amount = money_format(currency_of(inputs.cfg))
    frame = frame.iloc[::-1]
    frame.columns = [
        "customers", "high", "medium", "other", "mean churn probability", "revenue at risk",
        "expected profit", "drift", "feed", "events dropped",
    ]  # fmt: skip
    section.add(
        page.table(
            frame,
            {
                "mean churn probability": percent,
                "revenue at risk": amount,
                "expected profit": amount,
            },
            "nights-table",
        )
    )
    if len(frame) == 1:
        section.add(page.paragraph("Only one night has been scored so far.", "note"))
    return section


def health_section(inputs: ReportInputs, labels: dict[str, str]) -> page.Section:
    """The day's drift against the model's reference and the previous night, and its feed."""
    section = page.Section(
        "health",
        "Drift and feed health",
        "Drift is judged on what moves the model: the score's PSI and each input's shift in "
        "mean contribution (log-odds), against the model's latest training cutoff and against "
        "the previous night of the same model. The feeds are checked before anything is "
        "scored: a day is published only when its events are fresh and every signal's volume, "
        "missing values and amounts look as usual.",
    )
    manifest = inputs.manifest
    if manifest is None:
        return section.add(page.paragraph("This day has no manifest.", "note"))
    drift = manifest.get("drift", {})
    if drift.get("status") == "fail" and drift.get("allowed"):
        section.add(page.paragraph(allowed_drift_words(drift, inputs.cfg), "alert"))
    named = {**labels, "score": "the churn score"}

    def names(items: list[str]) -> str:
        return ", ".join(named.get(item, item) for item in items) or "none"

    facts = {
        "drift": numbers.drift_words(drift),
        "compared with": drift.get("reference", "—"),
        "score PSI against it": _number(drift.get("score")),
        "inputs that moved": names(drift.get("warned", [])),
        "previous night compared": drift.get("previous_night") or "none within the gap",
        "score PSI against that night": _number(drift.get("night_score")),
        "inputs that jumped since": names(drift.get("failed", [])),
        "feed": (manifest.get("feed") or {}).get("status")
        or ("passed" if has_event_feed(inputs.cfg) else "not checked (no event feed)"),
        "feature code": (manifest.get("feature_code") or {}).get("status", "—"),
    }
    quality = manifest.get("data_quality") or {}
    for key, value in quality.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = f"{value:.2%}" if key.endswith("share") else f"{int(value):,}"
            facts[QUALITY_WORDS.get(key, key.replace("_", " "))] = text
    section.add(
        page.table(
            pd.DataFrame({"value": list(facts.values())}, index=list(facts)),
            table_id="health-facts",
            index_label="",
            css="facts",
        )
    )
    shifts = drift_inputs(drift, named)
    if len(shifts):
        section.add(
            page.heading("Inputs that moved most"),
            page.table(
                shifts,
                {c: (lambda v: f"{float(v):+.3f}") for c in shifts.columns if "shift" in c}
                | {"PSI against the reference": lambda v: f"{float(v):.3f}"},
                "drift-table",
            ),
        )
    return section


def drift_inputs(drift: dict, named: dict[str, str]) -> pd.DataFrame:
    """The inputs whose mean contribution moved most against the reference, in words."""
    shifts = drift.get("shifts") or {}
    top = sorted(shifts, key=lambda name: -abs(shifts[name]))[:SHOWN_INPUTS]
    night = drift.get("night_shifts") or {}
    psi = drift.get("features") or {}
    return pd.DataFrame(
        {
            "contribution shift against the reference": [shifts[n] for n in top],
            "shift since the previous night": [night.get(n, float("nan")) for n in top],
            "PSI against the reference": [psi.get(n, float("nan")) for n in top],
        },
        index=pd.Index([named.get(n, n) for n in top], name="input"),
    )


def _number(value: object) -> str:
    return "—" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def backtest_section(inputs: ReportInputs) -> page.Section:
    """Predicted against observed churners per night, AUC over time, treated against control."""
    section = page.Section(
        "backtest",
        "Backtest",
        "Each scored night against what happened once its label window passed: the churners "
        "its probabilities expected against those observed, its ROC AUC against the model's "
        "test AUC, and, where the night held a control group, each tier's churn among treated "
        "and control customers. Nights whose window has not passed are pending.",
    )
    ledger = inputs.ledger
    if ledger is None or ledger.empty:
        return section.add(page.paragraph(inputs.ledger_hint, "note"))
    nights = numbers.backtest_nights(ledger)
    shown = nights.drop(columns="expected_churners_sd").assign(
        expected_churners=[
            f"{e:,.1f} ± {sd:,.1f}"
            for e, sd in zip(
                nights["expected_churners"], nights["expected_churners_sd"], strict=True
            )
        ],
        retrain=nights["retrain"].map({True: "recommended", False: "no"}),
    )
    shown.columns = [
        "status", "customers", "expected churners", "observed churners", "observed / expected",
        "ROC AUC", "model's test AUC", "retrain",
    ]  # fmt: skip
    three = {c: (lambda v: f"{float(v):.3f}") for c in ("ROC AUC", "model's test AUC")}
    section.add(
        page.table(
            shown.iloc[::-1],
            {"observed / expected": lambda v: f"{float(v):.2f}", **three},
            "backtest-table",
        ),
        page.image(figures.backtest_chart(nights), "predicted against observed churners"),
    )
    campaigns = numbers.campaign_frame(ledger)
    if campaigns.empty:
        return section.add(page.paragraph("No matured night held a control group.", "note"))
    rate = {c: percent for c in ("treated churn", "control churn")}
    table = pd.DataFrame(
        {
            "tier": campaigns["tier"].to_numpy(),
            "treated": campaigns["treated"].astype("int64").to_numpy(),
            "control": campaigns["control"].astype("int64").to_numpy(),
            "treated churn": campaigns["treated_churn_rate"].to_numpy(),
            "control churn": campaigns["control_churn_rate"].to_numpy(),
            "treated - control [95% interval]": [
                "—" if pd.isna(d) else f"{d * 100:+.1f} pts [{lo * 100:+.1f}, {hi * 100:+.1f}]"
                for d, lo, hi in campaigns[["difference", "low", "high"]].to_numpy()
            ],
        },
        index=pd.Index(campaigns["night"], name="night"),
    )
    return section.add(
        page.heading("Treated against control"),
        page.table(table, rate, "campaign-table"),
        page.paragraph(
            "Negative: fewer treated customers churned than control ones (the action kept "
            "customers); an interval holding zero cannot tell the effect from chance.",
            "note",
        ),
    )
