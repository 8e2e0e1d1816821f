"""Classical baselines for CDNOW on the model's own out-of-time test rows.

`python -m benchmarks.cdnow_baselines --data DIR` (DIR from `churn data import cdnow`) builds the
training matrix with `configs/cdnow.yaml`, takes the embargoed split's test rows (every customer
at 1998-01-01, label: no purchase in the 182 days after it) and scores them with

- a logistic regression on recency, frequency, value and tenure (`training.baseline_features`),
  fitted on the split's training rows, exactly as the evaluation card's baseline;
- Pareto/NBD and BG/NBD (`lifetimes` 0.11.3, maximum likelihood, `pip install -e '.[bench]'`)
  fitted on each customer's purchases before 1998-01-01 only, scored as P(no purchase in the
  182 days after the cutoff);
- for value, BG/NBD's expected purchases in those 182 days x Gamma-Gamma's expected spend per
  purchase (fitted on the same purchases; a customer without a repeat purchase gets the
  population mean), and trailing 365-day revenue, against the revenue actually paid in them
  (Spearman, top-10%/20% revenue shares, as `churn evaluate` reports the value model).

Results go to `var/bench/cdnow_baselines.json`. Time is in weeks, the customer's birth is the
first purchase (CDNOW's `signup_at`), and a purchase is one customer-day (the importer sums
same-day orders), so frequency = purchase days before the cutoff - 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.config import Config, load_config
from features.dataset import Dataset, open_dataset
from features.matrix import build_training_matrix
from features.snapshots import value_horizon_days
from models.evaluation import (
    baseline_columns,
    baseline_probability,
    classification_metrics,
    fit_baseline,
)
from models.split import split_for_training
from models.value import value_metrics

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "cdnow.yaml"
OUT = ROOT / "var" / "bench" / "cdnow_baselines.json"
DAYS_PER_WEEK = 7.0

log = logging.getLogger(__name__)


def purchase_days(dataset: Dataset, cfg: Config) -> pd.DataFrame:
    """One row per customer and day with a purchase (the activity signal), UTC days, with the
    day's spend (the payment signal's value; the importer sums same-day orders)."""
    events = dataset.events
    names = cfg.signals.activity
    frame = events.filter(events.event.isin(names)).select("customer_id", "ts", "value")
    frame = frame.to_pandas()
    frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.floor("D")
    frame["value"] = frame["value"].fillna(0.0)
    spend = frame.groupby(["customer_id", "day"], observed=True, as_index=False)["value"].sum()
    return spend.sort_values(["customer_id", "day"], ignore_index=True)


def repeat_spend(purchases: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """Mean spend of each customer's repeat purchase days before `cutoff` (Gamma-Gamma's
    monetary value: the first purchase left out, as in `lifetimes`); 0 without a repeat."""
    before = purchases[purchases["day"] < cutoff]
    repeats = before[before.groupby("customer_id", observed=True).cumcount() > 0]
    return repeats.groupby("customer_id", observed=True)["value"].mean()


def bg_nbd_gamma_gamma_value(
    bg_nbd, purchases: pd.DataFrame, rfm: pd.DataFrame, cutoff: pd.Timestamp, weeks: float
) -> tuple[np.ndarray, dict]:
    """Expected revenue in the next `weeks`: BG/NBD purchases x Gamma-Gamma spend per purchase."""
    from lifetimes import GammaGammaFitter

    monetary = repeat_spend(purchases, cutoff).reindex(rfm.index).fillna(0.0)
    repeat = (rfm["frequency"] > 0) & (monetary > 0)
    gamma_gamma = GammaGammaFitter().fit(rfm.loc[repeat, "frequency"], monetary[repeat])
    spend = gamma_gamma.conditional_expected_average_profit(rfm["frequency"], monetary)
    purchases_ahead = bg_nbd.conditional_expected_number_of_purchases_up_to_time(
        weeks, rfm["frequency"], rfm["recency"], rfm["T"]
    )
    value = np.asarray(purchases_ahead, np.float64) * np.asarray(spend, np.float64)
    params = {key: round(float(v), 6) for key, v in gamma_gamma.params_.items()}
    return value, params


def rfm_at(purchases: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Frequency (repeat purchase days), recency (first to last) and age T (first to cutoff) in
    weeks, from the purchases strictly before `cutoff`; indexed by customer_id."""
    before = purchases[purchases["day"] < cutoff]
    grouped = before.groupby("customer_id", observed=True)["day"]
    first, last, days = grouped.min(), grouped.max(), grouped.nunique()
    return pd.DataFrame(
        {
            "frequency": (days - 1).astype("float64"),
            "recency": (last - first).dt.days / DAYS_PER_WEEK,
            "T": (cutoff - first).dt.days / DAYS_PER_WEEK,
        }
    )


def fit_purchase_models(rfm: pd.DataFrame) -> dict:
    """Pareto/NBD and BG/NBD maximum-likelihood fits (no penalty) on one RFM table."""
    from lifetimes import BetaGeoFitter, ParetoNBDFitter

    fitted = {}
    for name, model in (("pareto_nbd", ParetoNBDFitter()), ("bg_nbd", BetaGeoFitter())):
        started = time.perf_counter()
        model.fit(rfm["frequency"], rfm["recency"], rfm["T"])
        log.info("%s fitted in %.1f s: %s", name, time.perf_counter() - started, model.params_)
        fitted[name] = model
    return fitted


def bg_nbd_no_purchase(model, rfm: pd.DataFrame, weeks: float) -> np.ndarray:
    """BG/NBD P(no purchase in the next `weeks` = t), closed form.

    A BG/NBD customer can only drop out right after a purchase, so one alive at the cutoff is
    still alive until their next purchase; with the posterior rate Gamma(r + x, alpha + T):
    P(0) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x).
    """
    r, alpha = model.params_["r"], model.params_["alpha"]
    alive = model.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"])
    alive = np.asarray(alive, dtype=np.float64)
    age = rfm["T"].to_numpy()
    stays_silent = ((alpha + age) / (alpha + age + weeks)) ** (r + rfm["frequency"].to_numpy())
    return 1.0 - alive + alive * stays_silent


def pareto_nbd_no_purchase(model, rfm: pd.DataFrame, weeks: float) -> np.ndarray:
    """Pareto/NBD P(no purchase in the next `weeks`), lifetimes' conditional probability."""
    probability = model.conditional_probability_of_n_purchases_up_to_time(
        0, weeks, rfm["frequency"], rfm["recency"], rfm["T"]
    )
    return np.asarray(probability, dtype=np.float64)


def run(data: Path, config: Path = CONFIG, out: Path = OUT) -> dict:
    """Every baseline's metrics on the embargoed split's test rows, written to `out`."""
    cfg = load_config(config)
    dataset = open_dataset(data)
    matrix = build_training_matrix(dataset, cfg)
    split = split_for_training(matrix, cfg.training, cfg.snapshots.horizon_days)
    test = split.test
    cutoff = pd.Timestamp(test["cutoff"].iloc[0])
    label = test["churned"].to_numpy()
    weeks = cfg.snapshots.horizon_days / DAYS_PER_WEEK
    results: dict = {
        "dataset": str(data),
        "config": str(config),
        "test_cutoff": f"{cutoff:%Y-%m-%d}",
        "horizon_days": cfg.snapshots.horizon_days,
        "split": split.summary(),
        "models": {},
    }

    columns = baseline_columns(split.fit_rows, cfg.training.baseline_features)
    logistic = fit_baseline(split.fit_rows, columns, cfg.training.seed)
    results["models"]["logistic_rfm"] = {
        "fitted_on": f"training cutoffs {', '.join(split.cutoffs['train'])} (the model's)",
        "features": columns,
        **classification_metrics(label, baseline_probability(logistic, test, columns)),
    }

    rfm = rfm_at(purchase_days(dataset, cfg), cutoff)
    rfm = rfm.reindex(test["customer_id"].to_numpy())
    if rfm.isna().any().any():
        raise ValueError("a test customer has no purchase before the cutoff: no RFM to score")
    fitted = fit_purchase_models(rfm)
    scorers = {"pareto_nbd": pareto_nbd_no_purchase, "bg_nbd": bg_nbd_no_purchase}
    for name, model in fitted.items():
        probability = scorers[name](model, rfm, weeks)
        results["models"][name] = {
            "fitted_on": f"purchases before {cutoff:%Y-%m-%d} of the test customers",
            "params": {key: round(float(value), 6) for key, value in model.params_.items()},
            "score": f"P(no purchase in {cfg.snapshots.horizon_days} days)",
            **classification_metrics(label, probability),
        }
    purchases = purchase_days(dataset, cfg)
    value, params = bg_nbd_gamma_gamma_value(fitted["bg_nbd"], purchases, rfm, cutoff, weeks)
    actual = test["future_revenue"].to_numpy()
    results["value"] = {
        "actual": f"revenue in the {value_horizon_days(cfg)} days after {cutoff:%Y-%m-%d}",
        "actual_mean": round(float(actual.mean()), 4),
        "bg_nbd_x_gamma_gamma": {
            "gamma_gamma": params,
            "mean_prediction": round(float(value.mean()), 4),
            **value_metrics(value, actual),
        },
        "trailing_revenue_365d": value_metrics(test["revenue_365d"].to_numpy(), actual),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="churn data import cdnow --out")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = run(args.data, args.config, args.out)
    for name, metrics in results["models"].items():
        print(
            f"{name:>13}: ROC AUC {metrics['roc_auc']:.3f}  PR AUC {metrics['pr_auc']:.3f}  "
            f"log loss {metrics['log_loss']:.3f}  ECE {metrics['ece']:.3f}  "
            f"mean {metrics['mean_prediction']:.3f} vs {metrics['base_rate']:.3f}"
        )
    for name, metrics in results["value"].items():
        if isinstance(metrics, dict):
            print(
                f"{name:>22}: Spearman {metrics['spearman']:.3f}  "
                f"top-10% share {metrics['top10_share']:.3f}  "
                f"top-20% share {metrics['top20_share']:.3f}"
            )
    print(f"written to {args.out}")
    return args.out


if __name__ == "__main__":
    main()
