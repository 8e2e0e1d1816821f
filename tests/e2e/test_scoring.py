"""The scoring job end to end on a small synthetic world with a model trained once per module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from features.atomic import OWNED_MARKER
from features.config import load_config
from features.dataset import open_dataset
from features.errors import (
    EXIT_DRIFT,
    EXIT_FAILURE,
    EXIT_FEED,
    ChurnError,
    DataContractError,
    DriftError,
    FeedError,
)
from features.matrix import build_matrix
from features.registry import feature_family
from features.snapshots import active_customers
from models.explain import resolve_floor
from models.registry import load_bundle
from models.scoring import ModelMismatchError
from pipelines.score import run_score
from tests.fixtures.configs import quick_config
from tests.fixtures.scoring_fixtures import read_day, trained_world

pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2026-07-01", tz="UTC")
DAY = "as_of=2026-07-01"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 1500-customer world, a model trained on it in a temporary mlflow store, one scoring."""
    root = tmp_path_factory.mktemp("scoring")
    # Quick to train; small chunks so the job writes several parts; drift levels as shipped.
    cfg = quick_config(
        "churn-score-test",
        max_boost_rounds=80,
        early_stopping_rounds=10,
        shap_sample_rows=200,
        chunk_customers=400,
    )
    with trained_world(root, customers=1500, seed=11, cfg=cfg) as (data, model):
        first = run_score(data, cfg, AS_OF, root / "out", model)
        yield {"root": root, "data": data, "cfg": cfg, "model": model, "first": first}


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.resolve().iterdir())}


def published(out: Path) -> list[str]:
    """What runs left under out/scores/ besides churn's marker and the days' lock files."""
    root = out / "scores"
    names = sorted(p.name for p in root.iterdir()) if root.exists() else []
    return [name for name in names if name != OWNED_MARKER and not name.endswith(".lock")]


@pytest.fixture(scope="module")
def scored(world):
    """The first day's scores, the feature matrix and the model, for checks against each other."""
    bundle = load_bundle(world["model"])
    matrix = build_matrix(open_dataset(world["data"]), world["cfg"], [AS_OF])
    return read_day(world["first"].folder), matrix, bundle


def test_contributions_plus_bias_equal_the_raw_score(scored) -> None:
    _, matrix, bundle = scored
    contributions = bundle.contributions(matrix)
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy(), bundle.raw_score(matrix), rtol=0, atol=1e-9
    )
    assert contributions["bias"].nunique() == 1  # the expected value, the same for every row


def test_written_probabilities_are_calibrated(scored) -> None:
    scores, matrix, bundle = scored
    assert scores["customer_id"].tolist() == matrix["customer_id"].tolist()  # sorted, aligned
    np.testing.assert_allclose(
        scores["churn_probability"], bundle.predict_proba(matrix), rtol=0, atol=1e-12
    )
    uncalibrated = 1.0 / (1.0 + np.exp(-bundle.raw_score(matrix)))
    assert bundle.calibrator.method != "identity"
    assert np.max(np.abs(scores["churn_probability"] - uncalibrated)) > 1e-3


def test_rows_equal_active_customers_and_the_manifest_adds_up(world, scored) -> None:
    scores, _, _ = scored
    active = active_customers(open_dataset(world["data"]), world["cfg"], AS_OF)
    assert len(scores) == active > 500
    assert scores["customer_id"].is_unique and scores["customer_id"].is_monotonic_increasing
    manifest = json.loads((world["first"].folder / "manifest.json").read_text())
    assert manifest["rows"] == active
    assert manifest["feed"]["status"] == "passed"
    assert manifest["feed"]["signals"]["payment"]["recent_per_day"] > 0
    assert sum(t["customers"] for t in manifest["tiers"].values()) == active
    high = scores[scores["tier"] == "high"]
    assert manifest["tiers"]["high"]["revenue_at_risk"] == pytest.approx(
        high["expected_loss"].sum()
    )
    assert manifest["model"]["version"] == world["model"].removeprefix("models:/")
    assert (scores["model_version"] == manifest["model"]["version"]).all()
    assert len(list(world["first"].folder.glob("part-*.parquet"))) == -(-active // 400)


def test_tiers_follow_expected_profit_within_the_budget(world, scored) -> None:
    scores, _, _ = scored
    decisions = world["cfg"].decisions
    np.testing.assert_allclose(
        scores["expected_loss"], scores["churn_probability"] * scores["value"]
    )
    assert set(scores["tier"]) == {"high", "medium", "other"}
    high, other = scores["tier"] == "high", scores["tier"] == "other"
    assert high.sum() <= decisions.budget.share * len(scores)
    assert (scores.loc[~other, "expected_profit"] > 0).all()
    assert (scores.loc[other, "action"] == "none").all() and not scores.loc[other, "control"].any()
    labels = {action.label for action in decisions.actions.values()}
    treated = ~other & ~scores["control"]
    assert scores.loc[treated, "action"].isin(labels).all()
    assert (scores.loc[scores["control"], "action"] == "none (control)").all()
    np.testing.assert_allclose(scores["value"], scores_value(world, scores))


def scores_value(world, scores: pd.DataFrame) -> np.ndarray:
    """The demo's subscription value if kept: plan price x the months of the next 12 a typical
    customer stays (the model's mean probability on its reference rows), not the customer's."""
    matrix = build_matrix(open_dataset(world["data"]), world["cfg"], [AS_OF])
    price = matrix.set_index("customer_id").loc[scores["customer_id"], "plan_price"].to_numpy()
    typical = load_bundle(world["model"]).reference["score"]["mean"]
    assert 0 < typical < 0.5
    return price * sum((1 - typical) ** k for k in range(1, 13))


def test_reasons_are_the_top_family_contributions_above_the_floor(world, scored) -> None:
    scores, matrix, bundle = scored
    cfg = world["cfg"]
    # The auto floor was derived at training and stored with the model.
    floor = resolve_floor(cfg.scoring.reason_floor, bundle.reference)
    assert floor == bundle.reference["reason_floor"]["auto"] > 0
    contributions = bundle.contributions(matrix).drop(columns="bias")
    families = contributions.T.groupby(
        [feature_family(n, cfg.features.profile_columns) for n in contributions.columns]
    ).sum()
    for row in range(0, len(scores), 97):
        sums = families.iloc[:, row]
        top = sorted(sums[sums > floor].to_numpy(), reverse=True)[:3]
        got = scores.loc[
            row, ["reason_1_contribution", "reason_2_contribution", "reason_3_contribution"]
        ]
        got = got.dropna().to_numpy(dtype=float)
        np.testing.assert_allclose(got, top, rtol=0, atol=1e-9)
        assert pd.isna(scores.loc[row, "reason_1"]) == (not top)  # no reason iff none clears it
        lowest = sums.min()
        protective = scores.loc[row, "protective_contribution"]
        if lowest < -floor:
            assert protective == pytest.approx(lowest, abs=1e-9)
        else:
            assert pd.isna(protective) and pd.isna(scores.loc[row, "protective_factor"])
    words = scores[["reason_1", "reason_2", "reason_3", "protective_factor"]].stack()
    assert not words.str.contains(r"[a-z]+_[a-z]+|\b1 times|\b1 payments|\b0 days").any()
    # Everyone worth a call has at least one reason.
    assert scores.loc[scores["tier"] == "high", "reason_1"].notna().all()
    labels = {action.label for action in cfg.decisions.actions.values()}
    assert set(scores["action"]) <= labels | {"none", "none (control)"}


def test_rerun_of_the_same_day_gives_identical_output(world) -> None:
    before = world["first"].folder.resolve()  # the version the day points at now
    first = file_bytes(before)
    again = run_score(world["data"], world["cfg"], AS_OF, world["root"] / "out", world["model"])
    assert again.folder.resolve() != before  # a new version, published beside the old one
    second = file_bytes(again.folder)
    parts = [name for name in first if name.startswith("part-")]
    assert parts and all(first[name] == second[name] for name in parts)
    assert sorted(first) == sorted(second)


def test_crash_while_writing_leaves_the_previous_day_intact(world, monkeypatch) -> None:
    day = world["root"] / "out" / "scores" / DAY
    before = file_bytes(day)
    calls = {"n": 0}
    real = pq.write_table

    def crash_on_second_part(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr("pipelines.catalog.scores.pq.write_table", crash_on_second_part)
    with pytest.raises(OSError, match="injected"):
        run_score(world["data"], world["cfg"], AS_OF, world["root"] / "out", world["model"])
    assert calls["n"] == 2
    assert file_bytes(day) == before
    assert published(world["root"] / "out") == [".versions", "_latest", DAY]
    versions = day.parent / ".versions" / DAY
    assert all(p.name.startswith("v-") for p in versions.iterdir())  # no staging left


def test_model_built_on_other_features_is_refused(world, tmp_path) -> None:
    cfg = world["cfg"]
    fewer = [b for b in cfg.features.builders if b != "support_spike_ratio_7d"]
    other = cfg.model_copy(update={"features": cfg.features.model_copy(update={"builders": fewer})})
    with pytest.raises(ModelMismatchError, match="support_spike_ratio_7d") as error:
        run_score(world["data"], other, AS_OF, tmp_path, world["model"])
    assert "fingerprint" in str(error.value)
    longer = cfg.model_copy(
        update={"snapshots": cfg.snapshots.model_copy(update={"lookback_days": 400})}
    )
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        run_score(world["data"], longer, AS_OF, tmp_path, world["model"])
    assert not published(tmp_path)
    # Decision edits (the contact budget) do not invalidate the model.
    budget = cfg.decisions.budget.model_copy(update={"share": 0.2})
    edited = cfg.model_copy(
        update={"decisions": cfg.decisions.model_copy(update={"budget": budget})}
    )
    assert run_score(world["data"], edited, AS_OF, tmp_path, world["model"]).manifest.rows > 0


def altered_world(world, folder: Path, alter) -> Path:
    """A copy of the world whose events went through `alter` (an events DataFrame in and out)."""
    folder.mkdir()
    shutil.copy(world["data"] / "customers.parquet", folder / "customers.parquet")
    events = pads.dataset(world["data"] / "events").to_table().to_pandas()
    alter(events).to_parquet(folder / "events.parquet", index=False)
    return folder


def payments_in_cents(events: pd.DataFrame) -> pd.DataFrame:
    """The billing feed switched to cents three weeks ago."""
    switched = (events["event"] == "payment") & (events["ts"] >= AS_OF - pd.Timedelta(days=21))
    return events.assign(value=events["value"].where(~switched, events["value"] * 100))


def support_calls_delivered_four_times(events: pd.DataFrame) -> pd.DataFrame:
    """The last month's support calls each arrive four times (one second apart: not exact
    duplicates, so validation keeps them): a broken delivery that looks like a support spike."""
    recent = events[
        (events["event"] == "support_call") & (events["ts"] >= AS_OF - pd.Timedelta(days=30))
    ]
    copies = [recent.assign(ts=recent["ts"] + pd.Timedelta(seconds=k)) for k in (1, 2, 3)]
    return pd.concat([events, *copies], ignore_index=True)


def email_stopped_two_months_before(events: pd.DataFrame) -> pd.DataFrame:
    stopped = events["event"].str.startswith("email_") & (
        events["ts"] >= AS_OF - pd.Timedelta(days=61)
    )
    return events[~stopped]


def test_a_normal_night_is_ok_against_the_reference_and_the_previous_night(world, tmp_path):
    assert load_config().scoring.drift_exempt == []  # the shipped demo config exempts nothing
    before = run_score(
        world["data"], world["cfg"], AS_OF - pd.Timedelta(days=1), tmp_path, world["model"]
    )
    tonight = run_score(world["data"], world["cfg"], AS_OF, tmp_path, world["model"])
    for drift in (before.manifest.drift, tonight.manifest.drift):
        assert drift.status == "ok" and not drift.retrain_recommended, drift.warned
        assert drift.reference.startswith("training cutoff")
    assert tonight.manifest.drift.previous_night == "2026-06-30"
    assert tonight.manifest.drift.night_score < 0.1


def test_a_jump_since_the_previous_night_fails_unless_allowed(world, tmp_path) -> None:
    jumped = altered_world(world, tmp_path / "jumped", support_calls_delivered_four_times)
    out = tmp_path / "out"
    run_score(world["data"], world["cfg"], AS_OF - pd.Timedelta(days=1), out, world["model"])
    with pytest.raises(DriftError, match="support_contacts_30d") as error:
        run_score(jumped, world["cfg"], AS_OF, out, world["model"])
    assert "2026-06-30" in str(error.value) and "--allow-drift" in str(error.value)
    assert not (out / "scores" / DAY).exists()
    allowed = run_score(jumped, world["cfg"], AS_OF, out, world["model"], allow_drift=True)
    drift = allowed.manifest.drift
    assert drift.allowed and "support_contacts_30d" in drift.failed and drift.status == "fail"
    assert (out / "scores" / DAY / "manifest.json").is_file()


def test_payments_in_another_scale_fail_feed_health_and_write_nothing(world, tmp_path) -> None:
    cents = altered_world(world, tmp_path / "cents", payments_in_cents)
    with pytest.raises(FeedError, match=r"signals\.payment .*mean value per event"):
        run_score(cents, world["cfg"], AS_OF, tmp_path / "out", world["model"])
    assert not published(tmp_path / "out")


def test_a_stopped_email_feed_fails_naming_the_signal(world, tmp_path) -> None:
    stopped = altered_world(world, tmp_path / "stopped", email_stopped_two_months_before)
    with pytest.raises(FeedError, match=r"signals\.email_sent .*stopped or fell") as error:
        run_score(stopped, world["cfg"], AS_OF, tmp_path / "out", world["model"])
    assert "signals.email_open" in str(error.value)
    assert "feed.exempt" in str(error.value)
    assert not (tmp_path / "out").exists()  # a failed first night leaves nothing at all
    # Campaign sends that may pause for weeks can be exempt: shown, warned, never failing.
    cfg = world["cfg"]
    feed = cfg.feed.model_copy(update={"exempt": ["email_sent", "email_open"]})
    exempt = cfg.model_copy(update={"feed": feed})
    manifest = run_score(stopped, exempt, AS_OF, tmp_path / "out", world["model"]).manifest
    assert manifest.rows > 0
    assert manifest.feed["status"] == "passed (email_sent, email_open fell; exempt)"


def test_an_as_of_after_the_data_fails_on_freshness(world, tmp_path) -> None:
    later = AS_OF + pd.Timedelta(days=92)
    with pytest.raises(FeedError, match=r"events end at 2026-06-30 .*feed is late or --as-of"):
        run_score(world["data"], world["cfg"], later, tmp_path, world["model"])
    assert not published(tmp_path)


def test_empty_population_fails_and_writes_nothing(world, tmp_path) -> None:
    with pytest.raises(DataContractError, match="no customer is active"):
        run_score(world["data"], world["cfg"], pd.Timestamp("2020-01-01", tz="UTC"), tmp_path,
                  world["model"])  # fmt: skip
    assert not published(tmp_path)


def test_cli_fails_in_one_line_with_the_failure_kind_as_exit_code(world, tmp_path) -> None:
    from pipelines.cli import app

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(world["cfg"].model_dump(mode="json")))
    jumped = altered_world(world, tmp_path / "jumped", support_calls_delivered_four_times)
    stopped = altered_world(world, tmp_path / "stopped", email_stopped_two_months_before)
    runner = CliRunner()
    base = ["score", "--out", str(tmp_path / "out"), "--config", str(config)]
    base += ["--model", world["model"]]
    tonight = [*base, "--as-of", "2026-07-01"]
    yesterday = runner.invoke(app, [*base, "--as-of", "2026-06-30", "--data", str(world["data"])])
    assert yesterday.exit_code == 0, yesterday.output
    refused = runner.invoke(app, [*tonight, "--data", str(jumped)])
    assert refused.exit_code == EXIT_DRIFT == 5
    lines = [line for line in refused.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "drift" in lines[0] and "--allow-drift" in refused.stderr
    passed = runner.invoke(app, [*tonight, "--data", str(jumped), "--allow-drift"])
    assert passed.exit_code == 0, passed.output
    broken = runner.invoke(app, [*tonight, "--data", str(stopped)])
    assert broken.exit_code == EXIT_FEED == 4 and "signals.email_sent" in broken.stderr
    late = runner.invoke(app, [*base, "--as-of", "2026-10-01", "--data", str(world["data"])])
    assert late.exit_code == EXIT_FEED and "feed is late" in late.stderr
    unknown = ["score", "--as-of", "2026-07-01", "--out", str(tmp_path / "out")]
    unknown += ["--model", "models:/no-such-model@champion", "--data", str(world["data"])]
    missing = runner.invoke(app, [*unknown, "--config", str(config)])
    assert missing.exit_code == EXIT_FAILURE == 1 and "error:" in missing.stderr


def test_unknown_model_is_a_user_error(world, tmp_path) -> None:
    with pytest.raises(ChurnError, match="churn train"):
        run_score(world["data"], world["cfg"], AS_OF, tmp_path, "models:/nothing-here@champion")


def with_consent(world, folder: Path) -> Path:
    """The world with marketing consent per channel in its customers table (some said no)."""
    folder.mkdir()
    for path in world["data"].iterdir():
        if path.name != "customers.parquet":
            (folder / path.name).symlink_to(path)
    customers = pd.read_parquet(world["data"] / "customers.parquet")
    rng = np.random.default_rng(5)
    customers["phone_ok"] = rng.choice(["yes", "no"], len(customers), p=[0.4, 0.6])
    customers["email_ok"] = rng.choice([True, False], len(customers), p=[0.7, 0.3])
    customers.to_parquet(folder / "customers.parquet")
    return folder


def test_no_action_on_a_channel_goes_to_a_customer_without_its_consent(world, tmp_path) -> None:
    data = with_consent(world, tmp_path / "consented")
    cfg = world["cfg"]
    consent = {"phone": "phone_ok", "email": "email_ok"}
    cfg = cfg.model_copy(
        update={"decisions": cfg.decisions.model_copy(update={"consent": consent})}
    )
    scores = read_day(run_score(data, cfg, AS_OF, tmp_path / "out", world["model"]).folder)
    customers = pd.read_parquet(data / "customers.parquet").set_index("customer_id")
    channel_of = {a.label: a.channel for a in cfg.decisions.actions.values()}
    acted = scores[scores["action"].isin(channel_of)].set_index("customer_id")
    channels = acted["action"].map(channel_of)
    assert set(channels.dropna()) == {"phone", "email"}  # both channels in use...
    phone_ok = customers.loc[acted.index, "phone_ok"] == "yes"
    assert phone_ok[channels == "phone"].all()  # ...only with consent
    assert customers.loc[acted.index, "email_ok"][channels == "email"].all()
    # Those who refused the phone still got the email alternative, not nothing.
    refused = (customers.loc[acted.index, "phone_ok"] == "no") & acted["tier"].eq("high")
    assert (channels[refused] != "phone").all() and refused.any()


def test_export_writes_the_call_list_without_control_or_other(world, tmp_path) -> None:
    from pipelines.cli import app

    out = tmp_path / "calls.csv"
    result = CliRunner().invoke(
        app,
        ["export", "--scores", str(world["root"] / "out"), "--out", str(out), "--top", "50"],
    )
    assert result.exit_code == 0, result.output
    calls = pd.read_csv(out, dtype={"customer_id": str})
    scores = read_day(world["first"].folder)
    assert 0 < len(calls) <= 50
    assert calls["expected_profit"].is_monotonic_decreasing
    held_out = scores.loc[scores["control"] | (scores["tier"] == "other"), "customer_id"]
    assert not calls["customer_id"].isin(held_out).any()
    assert list(calls.columns[:3]) == ["customer_id", "tier", "action"]
    assert (calls["currency"] == world["cfg"].decisions.currency).all()
    assert (calls["as_of"] == "2026-07-01").all()
    # The day's money stays in the currency it was scored in, whatever config exports it.
    euros = world["cfg"].model_copy(
        update={"decisions": world["cfg"].decisions.model_copy(update={"currency": "EUR"})}
    )
    from pipelines.export import run_export

    run_export(world["root"] / "out", tmp_path / "eur.csv", euros, None, 5)
    assert (pd.read_csv(tmp_path / "eur.csv")["currency"] == "USD").all()
    # The call centre's list: the high tier only.
    calls_only = tmp_path / "high.csv"
    args = ["export", "--scores", str(world["root"] / "out"), "--out", str(calls_only)]
    result = CliRunner().invoke(app, [*args, "--tier", "high"])
    assert result.exit_code == 0 and "call list of 2026-07-01" in result.output
    assert set(pd.read_csv(calls_only)["tier"]) == {"high"}
    missing = CliRunner().invoke(
        app,
        ["export", "--scores", str(world["root"] / "out"), "--out", str(tmp_path / "x.csv"),
         "--as-of", "2020-01-01"],
    )  # fmt: skip
    assert missing.exit_code != 0 and not (tmp_path / "x.csv").exists()


def test_on_the_demo_the_budget_earns_more_than_contacting_everyone_or_nobody(world) -> None:
    """The demo config's evaluation on its out-of-time test cutoff: the profit curve, EMPC, and
    the budget policy's realised profit above both extremes."""
    from pipelines.catalog import load_evaluation

    decisions = load_evaluation(world["model"])["decisions"]
    assert decisions["budget"] > decisions["contact_everyone"]
    assert decisions["budget"] > decisions["contact_nobody"] == 0.0
    assert decisions["empc_per_customer"] > 0 and len(decisions["curve"]) == 21
    assert decisions["tiers"]["high"]["customers"] > 0
