"""The champion promotion gate on known metrics (no model, no mlflow store)."""

from __future__ import annotations

import pytest

from models.registry import promotion_decision

GOOD = {"log_loss": 0.40, "pr_auc": 0.50, "roc_auc": 0.80}


def test_gate_promotes_without_champion() -> None:
    decision = promotion_decision(GOOD, None, 0.002)
    assert decision.promote and decision.reason == "no current champion"


def test_gate_allows_a_tie_within_the_margin() -> None:
    new = {"log_loss": 0.4015, "pr_auc": 0.4985, "roc_auc": 0.8}
    assert promotion_decision(new, GOOD, 0.002, "3").promote


@pytest.mark.parametrize(
    ("new", "words"),
    [
        ({"log_loss": 0.41, "pr_auc": 0.55, "roc_auc": 0.8}, "log loss"),
        ({"log_loss": 0.39, "pr_auc": 0.45, "roc_auc": 0.8}, "PR AUC"),
    ],
)
def test_gate_refuses_when_either_metric_is_worse(new: dict, words: str) -> None:
    decision = promotion_decision(new, GOOD, 0.002, "3")
    assert not decision.promote
    assert words in decision.reason and "v3" in decision.reason


def test_gate_on_profit_refuses_a_lower_expected_maximum_profit() -> None:
    champion = {**GOOD, "empc": 2.0}
    poorer = {**GOOD, "empc": 1.9}
    assert promotion_decision(poorer, champion, 0.002, "3").promote  # not asked: ignored
    decision = promotion_decision(poorer, champion, 0.002, "3", on_profit=True)
    assert not decision.promote and "EMPC" in decision.reason
    assert promotion_decision({**GOOD, "empc": 1.997}, champion, 0.002, "3", on_profit=True).promote
    # A champion that could not price the rows (no value model) is still compared on the rest.
    worse = {**GOOD, "log_loss": 0.41, "empc": 1.0}
    decision = promotion_decision(worse, GOOD, 0.002, "3", on_profit=True)
    assert not decision.promote and "log loss" in decision.reason and "EMPC" not in decision.reason
    assert promotion_decision({**GOOD, "empc": 1.0}, GOOD, 0.002, "3", on_profit=True).promote


def test_a_model_that_does_not_beat_its_own_baseline_is_never_promoted() -> None:
    new = {**GOOD, "roc_auc": 0.597}
    baseline = {"kind": "logistic regression", "roc_auc": 0.650}
    for champion in (None, {**GOOD, "log_loss": 0.9, "pr_auc": 0.1}):
        decision = promotion_decision(new, champion, 0.002, "3", baseline=baseline)
        assert not decision.promote
        assert "does not beat its own baseline (logistic regression)" in decision.reason
        assert "0.5970 <= 0.6500" in decision.reason
    assert promotion_decision({**new, "roc_auc": 0.7}, None, 0.002, baseline=baseline).promote


def test_a_model_no_better_than_chance_is_never_promoted() -> None:
    decision = promotion_decision({**GOOD, "roc_auc": 0.5}, None, 0.002)
    assert not decision.promote and "no better than chance" in decision.reason
