"""`scoring.value.source: expected` end to end: `churn train` fits and registers the value model
beside the churn model and reports it against actual next-period revenue (mlflow, evaluation
record, model card), `churn evaluate` reports it too, and the nightly job takes each customer's
value from it on both engines."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.dataset import open_dataset
from features.matrix import build_matrix
from features.synth import write_world
from models.registry import load_bundle
from pipelines.evaluate import run_evaluate
from pipelines.score import EngineChoice, run_score
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day

pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 900-customer world and a model trained with expected value in a temporary store."""
    from pipelines.train import run_train

    root = tmp_path_factory.mktemp("value")
    cfg = quick_config(
        "churn-value-test",
        max_boost_rounds=80,
        early_stopping_rounds=10,
        shap_sample_rows=200,
        value={"source": "expected", "revenue_days": 365},
        drift_fail_psi=0.6,
    )
    data = root / "world"
    write_world(data, customers=900, seed=7, truth=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
        outputs = run_train(data, cfg, root / "var")
        model = f"models:/{outputs.model_name}/{outputs.model_version}"
        yield {"root": root, "data": data, "cfg": cfg, "outputs": outputs, "model": model}


def test_training_registers_and_reports_the_value_model(trained) -> None:
    outputs = trained["outputs"]
    bundle = load_bundle(trained["model"])  # checksums verified, value.txt among them
    assert bundle.value_model is not None
    assert (outputs.files["model"] / "value.txt").is_file()
    record = json.loads((outputs.files["model"] / "checksums.json").read_text())
    assert "value.txt" in record
    evaluation = json.loads(outputs.files["report_json"].read_text())
    value = evaluation["value"]
    assert value["actual"] == "revenue in the 30 days after the test cutoff"
    expected, trailing = value["sources"]["expected"], value["sources"]["trailing revenue_365d"]
    # Next month's bill is learnt from the plan and whether the customer stays: it ranks next
    # month's revenue far better than the last year's spend does.
    assert expected["spearman"] > trailing["spearman"] + 0.05 > 0.3
    run = mlflow.get_run(outputs.run_id)
    assert run.data.metrics["test_value_spearman"] == pytest.approx(expected["spearman"])
    assert run.data.metrics["test_value_top10_share"] == pytest.approx(expected["top10_share"])
    card = outputs.files["report"].read_text()
    assert "| value source | Spearman | top-10% share | top-20% share |" in card
    assert f"| expected | {expected['spearman']:.3f} |" in card


def test_churn_evaluate_reports_the_value_model(trained) -> None:
    var = trained["root"] / "var"
    result = run_evaluate(trained["data"], trained["cfg"], var, trained["model"])
    evaluation = json.loads(trained["outputs"].files["report_json"].read_text())
    # The same test cutoff as training's: the same numbers.
    assert result["value"]["sources"] == evaluation["value"]["sources"]


def _score_and_compare(trained, engine: EngineChoice, folder: str) -> None:
    done = run_score(
        trained["data"], trained["cfg"], AS_OF, trained["root"] / folder, trained["model"],
        engine=engine,
    )  # fmt: skip
    scores = read_day(done.folder)
    bundle = load_bundle(trained["model"])
    matrix = build_matrix(open_dataset(trained["data"]), trained["cfg"], [AS_OF])
    expected = pd.Series(bundle.expected_value(matrix), index=matrix["customer_id"])
    np.testing.assert_allclose(
        scores["value"], expected.loc[scores["customer_id"]].to_numpy(), rtol=1e-12
    )
    assert (scores["value"] >= 0).all() and scores["value"].nunique() > 10
    # Not the trailing revenue it replaced.
    trailing = matrix.set_index("customer_id").loc[scores["customer_id"], "revenue_365d"]
    assert not np.allclose(scores["value"], trailing.to_numpy())


def test_scoring_takes_each_value_from_the_value_model(trained) -> None:
    _score_and_compare(trained, EngineChoice(), "duckdb")


@pytest.mark.spark
def test_spark_scoring_takes_the_same_values(trained) -> None:
    _score_and_compare(trained, EngineChoice("spark", "local[2]"), "spark")
