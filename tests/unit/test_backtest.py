"""The backtest ledger on hand-made nights: metrics against sklearn, the pending estimate, the
customers that do not match, treated against control, and the retrain flags."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from features.config import BacktestSettings
from models.backtest import (
    auc_standard_error,
    ledger_frame,
    ledger_row,
    newcombe_interval,
    retrain_reasons,
)

PROBABILITY = [0.9, 0.7, 0.6, 0.4, 0.35, 0.3, 0.2, 0.15, 0.1, 0.05]
CHURNED = [1, 0, 1, 1, 0, 0, 0, 1, 0, 0]
TIER = ["high", "high", "medium", "medium", "medium", "other", "other", "other", "other", "other"]
# An older night's column, gone from the scores since: still read, no longer reported.
RISK = ["high", "high", "high", "high", "high", "high", "medium", "medium", "medium", "low"]


def night(ids: list[str] | None = None) -> pd.DataFrame:
    """An older night: tiers but no control group."""
    ids = ids or [f"c{k}" for k in range(len(PROBABILITY))]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": PROBABILITY,
            "tier": TIER,
            "risk_tier": RISK,
            "model_version": "churn/3",
        }
    )


def outcomes() -> pd.DataFrame:
    # Shuffled: the join goes by customer id, not by row order.
    labels = pd.DataFrame({"customer_id": [f"c{k}" for k in range(10)], "churned": CHURNED})
    return labels.sample(frac=1.0, random_state=3).astype({"churned": "float64"})


SETTINGS = BacktestSettings()


def test_matured_metrics_equal_sklearn_on_the_same_rows() -> None:
    row = ledger_row("2026-05-01", night(), outcomes(), SETTINGS)
    label, probability = np.array(CHURNED), np.array(PROBABILITY)
    assert row["status"] == "matured" and row["model_version"] == "churn/3"
    assert row["rows"] == row["labelled_rows"] == 10
    assert row["churners"] == 4 and row["observed_rate"] == pytest.approx(0.4)
    assert row["roc_auc"] == pytest.approx(roc_auc_score(label, probability), abs=1e-6)
    assert row["pr_auc"] == pytest.approx(average_precision_score(label, probability), abs=1e-6)
    assert row["log_loss"] == pytest.approx(log_loss(label, probability), abs=1e-6)
    assert row["brier"] == pytest.approx(brier_score_loss(label, probability), abs=1e-6)
    # Ten rows in ten equal-frequency bins: ECE is the mean absolute error.
    assert row["ece"] == pytest.approx(np.abs(label - probability).mean(), abs=1e-6)
    assert row["observed_to_expected"] == pytest.approx(4 / sum(PROBABILITY))
    assert row["unlabelled_rows"] == row["unscored_active"] == 0


def test_precision_and_capture_per_tier() -> None:
    row = ledger_row("2026-05-01", night(), outcomes(), SETTINGS)
    # high: c0 (churned), c1; medium: c2, c3 (both churned), c4; other: c5..c9 (c7 churned)
    assert (row["tier_high_churners"], row["tier_high_precision"]) == (1, 0.5)
    assert row["tier_medium_precision"] == pytest.approx(2 / 3)
    assert row["tier_other_precision"] == pytest.approx(1 / 5)
    assert [row[f"tier_{t}_capture"] for t in ("high", "medium", "other")] == [0.25, 0.5, 0.25]
    # The old risk_tier column is read without complaint and no longer reported; an old night
    # has no control group, so no treated-against-control columns either.
    assert not any(key.startswith("risk_tier") for key in row)
    assert not any("control" in key for key in row)
    without = ledger_row("2026-05-01", night().drop(columns="risk_tier"), outcomes(), SETTINGS)
    assert without == row


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score, no
# continuity correction): (a) 56/70 - 48/80 ... (h) 10/10 - 0/10.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_reproduces_the_published_examples(counts, published) -> None:
    low, high = newcombe_interval(*counts, 0.95)
    assert (round(low, 4), round(high, 4)) == published


def test_newcombe_interval_by_hand() -> None:
    """56/70 - 48/80 from the Wilson intervals written out: p = 0.8 and 0.6, z = 1.959964."""
    z = 1.959963984540054

    def wilson(k: int, n: int) -> tuple[float, float]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return centre - half, centre + half

    (l1, u1), (l2, u2) = wilson(56, 70), wilson(48, 80)
    assert (l1, u1) == pytest.approx((0.69183, 0.87695), abs=1e-5)
    expected = (0.2 - np.hypot(0.8 - l1, u2 - 0.6), 0.2 + np.hypot(u1 - 0.8, 0.6 - l2))
    assert newcombe_interval(56, 70, 48, 80, 0.95) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx((0.05243, 0.33387), abs=1e-5)


def campaign_night() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A night with a control group: 20 high (5 in control), 10 medium (2), 10 other (1)."""
    tier = ["high"] * 20 + ["medium"] * 10 + ["other"] * 10
    control = [k < 5 for k in range(20)] + [k < 2 for k in range(10)] + [k < 1 for k in range(10)]
    # high: control churned 3 of 5, treated 3 of 15; medium: control 0 of 2, treated 2 of 8.
    churned = [k < 3 for k in range(5)] + [k < 3 for k in range(15)]
    churned += [False, False] + [k < 2 for k in range(8)] + [False] * 10
    ids = [f"c{k}" for k in range(40)]
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": 0.3,
            "tier": tier,
            "control": control,
            "model_version": "churn/4",
        }
    )
    labels = pd.DataFrame({"customer_id": ids, "churned": np.array(churned, dtype=float)})
    return scores, labels.sample(frac=1.0, random_state=1)


def test_treated_against_control_per_acted_on_tier() -> None:
    scores, labels = campaign_night()
    row = ledger_row("2026-05-01", scores, labels, SETTINGS)
    assert (row["tier_high_treated_customers"], row["tier_high_control_customers"]) == (15, 5)
    assert (row["tier_high_treated_churners"], row["tier_high_control_churners"]) == (3, 3)
    assert row["tier_high_treated_churn_rate"] == pytest.approx(0.2)
    assert row["tier_high_control_churn_rate"] == pytest.approx(0.6)
    assert row["tier_high_treated_minus_control"] == pytest.approx(-0.4)
    interval = (row["tier_high_treated_minus_control_ci_low"],
                row["tier_high_treated_minus_control_ci_high"])  # fmt: skip
    assert interval == pytest.approx(newcombe_interval(3, 15, 3, 5, 0.95))
    assert interval[0] < -0.4 < interval[1] < 0.1
    assert row["tier_medium_treated_minus_control"] == pytest.approx(0.25)
    assert row["tier_medium_treated_minus_control_ci_low"] < 0  # two controls say little
    assert not any(key.startswith("tier_other_treated") for key in row)
    frame = ledger_frame([row, ledger_row("2026-04-01", night(), outcomes(), SETTINGS)])
    assert str(frame["tier_high_control_customers"].dtype) == "Int64"
    assert frame["tier_high_control_customers"].isna().tolist() == [False, True]
    assert frame["tier_high_treated_minus_control_ci_low"].dtype == np.float64


def test_an_empty_control_group_leaves_the_difference_null() -> None:
    scores, labels = campaign_night()
    scores["control"] = scores["control"] & (scores["tier"] != "medium")
    row = ledger_row("2026-05-01", scores, labels, SETTINGS)
    assert row["tier_medium_control_customers"] == 0
    assert row["tier_medium_control_churn_rate"] is None
    assert row["tier_medium_treated_minus_control"] is None
    assert row["tier_medium_treated_minus_control_ci_low"] is None
    assert row["tier_high_treated_minus_control"] == pytest.approx(-0.4)


def test_pending_night_expects_the_sum_of_its_probabilities() -> None:
    row = ledger_row("2026-06-01", night(), None, SETTINGS)
    probability = np.array(PROBABILITY)
    assert row["status"] == "pending" and not row["retrain_recommended"]
    assert row["expected_churners"] == pytest.approx(probability.sum())
    assert row["expected_churners_sd"] == pytest.approx(
        np.sqrt((probability * (1 - probability)).sum())
    )
    assert row["tier_high_expected_churners"] == pytest.approx(0.9 + 0.7)
    assert row["tier_medium_expected_precision"] == pytest.approx((0.6 + 0.4 + 0.35) / 3)
    assert row["tier_other_expected_precision"] == pytest.approx(0.8 / 5)  # c5..c9
    assert "churners" not in row and "roc_auc" not in row


def test_customers_missing_from_either_side_are_counted_not_dropped_unsaid() -> None:
    scores = night([*(f"c{k}" for k in range(9)), "ghost"])  # c9 never scored, ghost not labelled
    row = ledger_row("2026-05-01", scores, outcomes(), SETTINGS)
    assert (row["rows"], row["labelled_rows"]) == (10, 9)
    assert row["unlabelled_rows"] == 1 and row["unscored_active"] == 1
    label, probability = np.array(CHURNED[:9]), np.array(PROBABILITY[:9])
    assert row["roc_auc"] == pytest.approx(roc_auc_score(label, probability), abs=1e-6)
    assert row["expected_churners_labelled"] == pytest.approx(probability.sum())


def test_a_night_with_one_class_has_no_ranking_metrics() -> None:
    labels = outcomes().assign(churned=0.0)
    row = ledger_row("2026-05-01", night(), labels, SETTINGS)
    assert row["churners"] == 0 and row["roc_auc"] is None and row["tier_high_capture"] is None
    assert row["log_loss"] == pytest.approx(log_loss(np.zeros(10), PROBABILITY, labels=[0, 1]))
    # 0 observed against 3.75 expected (sd 1.28): 2.9 sd, within the default 3, beyond 2.
    assert row["churners_z"] == pytest.approx(-3.75 / np.sqrt(1.6425))
    assert not row["retrain_recommended"]
    looser = SETTINGS.model_copy(update={"significance_sd": 2.0})
    assert ledger_row("2026-05-01", night(), labels, looser)["retrain_recommended"]


def test_flags_need_the_band_or_the_auc_drop_and_beyond_the_nights_noise() -> None:
    base = {"churners": 70, "expected_churners_labelled": 100.0, "roc_auc": 0.80}
    settings = BacktestSettings(observed_to_expected_band=(0.8, 1.25), max_auc_drop=0.05)
    far = {**base, "observed_to_expected": 0.7, "churners_z": -3.5, "roc_auc_se": 0.02}
    assert len(retrain_reasons(far, settings, test_auc=0.82)) == 1
    assert "outside [0.8, 1.25]" in retrain_reasons(far, settings, test_auc=0.82)[0]
    noisy = {**far, "churners_z": -2.0}  # out of the band but within 3 sd: a small night
    assert retrain_reasons(noisy, settings, test_auc=0.82) == []
    strict = settings.model_copy(update={"significance_sd": 0.0})
    assert len(retrain_reasons(noisy, strict, test_auc=0.82)) == 1
    inside = {**base, "observed_to_expected": 0.9, "churners_z": -1.0, "roc_auc_se": 0.02}
    dropped = retrain_reasons(inside, settings, test_auc=0.90)  # 0.10 below, 5 se
    assert len(dropped) == 1 and "below the model's test AUC 0.900" in dropped[0]
    assert retrain_reasons({**inside, "roc_auc_se": 0.05}, settings, test_auc=0.90) == []
    assert retrain_reasons(inside, settings, test_auc=None) == []


def test_hanley_mcneil_standard_error_matches_a_bootstrap() -> None:
    rng = np.random.default_rng(7)
    label = (rng.random(1000) < 0.2).astype(float)
    score = rng.normal(label * 1.2, 1.0)
    auc = roc_auc_score(label, score)
    boot = []
    for _ in range(400):
        pick = rng.integers(0, len(label), len(label))
        boot.append(roc_auc_score(label[pick], score[pick]))
    positives = int(label.sum())
    se = auc_standard_error(auc, positives, len(label) - positives)
    assert se == pytest.approx(np.std(boot), rel=0.2)


def test_ledger_frame_keeps_types_across_pending_and_matured_nights() -> None:
    rows = [
        ledger_row("2026-05-01", night(), outcomes(), SETTINGS),
        ledger_row("2026-06-01", night(), None, SETTINGS),
    ]
    frame = ledger_frame(rows)
    assert str(frame["churners"].dtype) == "Int64" and frame["churners"].isna().tolist() == [
        False,
        True,
    ]
    assert frame["roc_auc"].dtype == np.float64 and np.isnan(frame["roc_auc"].iloc[1])
    assert str(frame["tier_high_customers"].dtype) == "Int64"
    assert frame["tier_high_expected_churners"].dtype == np.float64
    assert "customer_id" not in frame.columns


def test_backtest_settings_are_validated() -> None:
    assert SETTINGS.observed_to_expected_band == (0.8, 1.25) and SETTINGS.max_auc_drop == 0.05
    with pytest.raises(ValidationError, match="0 < low <= 1 <= high"):
        BacktestSettings(observed_to_expected_band=(1.1, 2.0))
    with pytest.raises(ValidationError):
        BacktestSettings(max_auc_drop=-0.1)


def test_the_printed_ledger_shows_treated_against_control_only_when_there_is_one() -> None:
    from rich.console import Console

    from pipelines.backtest import ledger_table

    def printed(rows: list[dict]) -> str:
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(ledger_table(ledger_frame(rows)))
        return console.export_text()

    scores, labels = campaign_night()
    text = printed([ledger_row("2026-05-01", scores, labels, SETTINGS)])
    low, high = newcombe_interval(3, 15, 3, 5, 0.95)
    assert "treated - control [95% CI]" in text
    assert f"-0.400 [{low:.3f}, {high:.3f}]" in text
    assert "treated - control" not in printed(
        [ledger_row("2026-05-01", night(), outcomes(), SETTINGS)]
    )


def test_a_campaign_that_works_does_not_look_like_a_miscalibrated_model() -> None:
    """Treated customers churn less than their scores said (the action worked); the model is
    judged on untreated customers, the control group standing for its whole tier."""
    from models.backtest import ledger_row

    rng = np.random.default_rng(3)
    tier = np.repeat(["high", "medium", "other"], [2000, 3000, 15000])
    probability = np.select([tier == "high", tier == "medium"], [0.5, 0.2], 0.05)
    control = (tier != "other") & (rng.random(len(tier)) < 0.1)
    treated = (tier != "other") & ~control
    churned = rng.random(len(tier)) < np.where(treated, probability * 0.4, probability)
    ids = [f"c{i}" for i in range(len(tier))]
    scores = pd.DataFrame(
        {"customer_id": ids, "churn_probability": probability, "tier": tier,
         "control": control, "model_version": "1"}
    )  # fmt: skip
    labels = pd.DataFrame({"customer_id": ids, "churned": churned.astype(float)})
    row = ledger_row("2026-06-01", scores, labels, BacktestSettings())
    assert 0.9 < row["observed_to_expected"] < 1.1
    assert not row["retrain_recommended"], row["reasons"]
    assert row["judged_rows"] == int((~treated).sum())
    # Judged on everyone, the same night would cry "retrain".
    naive = ledger_row("2026-06-01", scores.drop(columns="control"), labels, BacktestSettings())
    assert naive["observed_to_expected"] < 0.8 and naive["retrain_recommended"]


def test_an_acted_on_tier_without_a_control_group_is_named() -> None:
    from models.backtest import ledger_row

    scores = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d", "e", "f"], "churn_probability": 0.3,
         "tier": ["high", "high", "medium", "medium", "other", "other"],
         "control": [False, False, True, False, False, False], "model_version": "1"}
    )  # fmt: skip
    labels = pd.DataFrame({"customer_id": list("abcdef"), "churned": [1.0, 0, 0, 1, 0, 1]})
    row = ledger_row("2026-06-01", scores, labels, BacktestSettings())
    assert row["unjudged_tiers"] == "high"
    assert row["judged_rows"] == 3  # the medium control and the two other customers
