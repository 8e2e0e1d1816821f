"""mlflow tracking, model registration and the champion promotion gate.

Tracking defaults to a SQLite store under the var folder (artifacts beside it);
`MLFLOW_TRACKING_URI` overrides it. The gate moves the `champion` alias only when the new
model is no worse than the current champion on the same out-of-time test rows.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import sklearn
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from features.errors import ChurnError
from models.bundle import ModelBundle, checksums
from models.environment import environment_record

log = logging.getLogger(__name__)

CHAMPION = "champion"
ENTRY_POINT = Path(__file__).resolve().parent / "pyfunc_entry.py"
HISTORY_TAG = "promotion_history"
HISTORY_KEEP = 25
# Model-version tag: the bundle files' SHA-256 at registration, checked again at every load.
CHECKSUM_TAG = "bundle.sha256"
# mlflow 3's UI opens an experiment by its kind: this one (the UI's "Machine learning") opens on
# the runs table; an experiment without the tag may open on the GenAI overview.
KIND_TAG, CLASSICAL_ML = "mlflow.experimentKind", "custom_model_development"
NOTE_TAG = "mlflow.note.content"  # the description the UI shows for an experiment or a run
# What makes two trainings the same (version tags): a retrain on all three equal reuses the
# version registered first instead of registering an identical one.
IDENTITY_TAGS = ("data_hash", "config_fingerprint", "code_fingerprint")


def tracking_uri(var_dir: Path, create: bool = True) -> str:
    """`MLFLOW_TRACKING_URI` if set, else a SQLite store under `var_dir/mlflow` (its folder
    made only when `create`)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = (Path(var_dir) / "mlflow").resolve()
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def artifact_root(uri: str) -> str | None:
    """For a SQLite store keep artifacts in an `artifacts` folder beside the database file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return None


def use_store(var_dir: Path, create: bool = True) -> str:
    """Point mlflow tracking and registry at the store under `var_dir`; return its URI.

    A job that writes (`create`) checks that a tracking server answers and creates a new SQLite
    store's schema once, under the store lock (concurrent first uses race mlflow's migrations).
    A read-only job only points mlflow there, touching nothing: `check_store` refuses a store
    that is missing or does not answer before the first read."""
    uri = tracking_uri(var_dir, create)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if create:
        check_server(uri)
        if sqlite_path(uri) is not None:
            with store_lock(uri):
                MlflowClient(uri).search_experiments(max_results=1)
                MlflowClient(uri, uri).search_registered_models(max_results=1)
    return uri


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` store, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def local_store_path(uri: str) -> Path | None:
    """The file or folder behind a local store (SQLite, or a file store), else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "file" or (parsed.scheme == "" and uri.startswith(("/", "."))):
        return Path(parsed.path)
    return sqlite_path(uri)


def check_store(uri: str | None = None) -> None:
    """Before a read-only job's first mlflow call: refuse in one line a local store that does
    not exist (mlflow would silently create an empty one) or a server that does not answer."""
    uri = uri or mlflow.get_tracking_uri()
    local = local_store_path(uri)
    if local is not None and not local.exists():
        raise ChurnError(
            f"mlflow store {local} does not exist; train a model first (`churn train`), "
            "fix --var-dir or MLFLOW_TRACKING_URI, or score from a model folder with --model DIR"
        )
    check_server(uri)


_ANSWERED: set[str] = set()


SERVER_FIX = "start it, fix MLFLOW_TRACKING_URI, or score from a model folder with --model DIR"


def check_server(uri: str, fix: str = SERVER_FIX) -> None:
    """One small request to a tracking server (bounded by MLFLOW_HTTP_REQUEST_TIMEOUT and
    _MAX_RETRIES); a server that refuses or never answers fails in one line naming it."""
    if not uri.startswith(("http://", "https://")) or uri in _ANSWERED:
        return
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except MlflowException as exc:
        reason = unreachable(str(exc))
        if reason is None:
            raise
        raise ChurnError(f"tracking server {uri} does not answer ({reason}); {fix}") from None
    _ANSWERED.add(uri)


def unreachable(message: str) -> str | None:
    """Why a request never reached an answer, from mlflow's message; None if it was answered."""
    lowered = message.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
        return f"no answer within {timeout} s, {retries} retries"
    if "name or service not known" in lowered or "nameresolution" in lowered:
        return "host name not found"
    if "failed to establish" in lowered or "connection aborted" in lowered:
        return "connection failed"
    return None


@contextmanager
def store_lock(uri: str | None = None, wait_seconds: float = 120) -> Iterator[None]:
    """An exclusive lock on the store for changes that must not interleave (schema creation,
    the champion alias): a file beside a SQLite database, else one in the temp folder (which
    serialises the jobs of this machine only)."""
    uri = uri or mlflow.get_tracking_uri()
    database = sqlite_path(uri)
    if database is not None:
        path = database.with_name(database.name + ".lock")
    else:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"churn-mlflow-{digest}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(path, "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ChurnError(
                        f"mlflow store lock {path} held by another job for {wait_seconds:.0f} s; "
                        "retry when it has finished"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def use_experiment(var_dir: Path, name: str, description: str | None = None) -> str:
    """Point mlflow at the tracking store and the experiment `name` (`ensure_experiment`)."""
    uri = use_store(var_dir)
    ensure_experiment(name, description)
    mlflow.set_experiment(name)
    return uri


def ensure_experiment(name: str, description: str | None = None) -> str:
    """The id of experiment `name`, created if needed (under the store lock, so two first jobs
    do not both create it) with the kind tag and `description`; on an existing experiment
    either is set only where absent, so an edit made in the UI stays."""
    uri = mlflow.get_tracking_uri()
    client = MlflowClient()
    wanted = {KIND_TAG: CLASSICAL_ML, **({NOTE_TAG: description} if description else {})}
    with store_lock(uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return client.create_experiment(name, artifact_root(uri), tags=wanted)
    for key, value in wanted.items():
        if key not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def git_commit(folder: Path | None = None) -> str:
    """The current git commit (with `-dirty` if the tree has changes), or `unknown`."""
    cwd = folder or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested config as `a.b.c` -> value strings, for mlflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
            flat[name] = text[:500]
    return flat


def log_environment() -> dict:
    """Python and the numeric packages' versions on the active run: `environment.json` and
    `env.*` params (so runs can be compared by version); returns the record."""
    record = environment_record()
    mlflow.log_dict(record, "environment.json")
    versions = {"python": record["python"], **record["packages"]}
    mlflow.log_params({f"env.{name}": version for name, version in versions.items()})
    return record


def log_trial_run(trial, objective: str) -> None:
    """One nested run per optuna trial under the active parent run."""
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.log_params(trial.params)
        mlflow.set_tag("optuna.state", trial.state.name)
        mlflow.set_tag("optuna.trial", str(trial.number))
        if trial.value is not None:
            mlflow.log_metric(f"valid_{objective}", float(trial.value))
        if "best_iteration" in trial.user_attrs:
            mlflow.log_metric("best_iteration", float(trial.user_attrs["best_iteration"]))


def signature_example(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """A few feature rows as a serving client sends them: categories as plain strings."""
    example = frame[bundle.spec.names].head(5).copy()
    for name in bundle.spec.categories:
        example[name] = example[name].astype("str").where(example[name].notna(), None)
        example[name] = example[name].astype(object)
    return example


def model_signature(bundle: ModelBundle, example: pd.DataFrame):
    """Signature from the example rows and the probability output."""
    output = pd.DataFrame({"churn_probability": bundle.predict_proba(example)})
    return infer_signature(example, output)


def log_and_register(bundle_dir: Path, model_name: str, example: pd.DataFrame, signature) -> str:
    """Log the bundle as a models-from-code pyfunc model and register it; return the version."""
    with warnings.catch_warnings():
        # mlflow nags about type hints on `predict`; the explicit signature does that job.
        warnings.filterwarnings("ignore", message=".*type hints.*", category=UserWarning)
        info = _log_model(bundle_dir, model_name, example, signature)
    version = str(info.registered_model_version)
    record = json.dumps(checksums(bundle_dir), sort_keys=True)
    MlflowClient().set_model_version_tag(model_name, version, CHECKSUM_TAG, record)
    return version


def code_fingerprint() -> str:
    """What decides a model besides its data and config, hashed: the source of the `features`
    and `models` packages, Python and the numeric packages' versions. An edit elsewhere (the
    report, the CLI, a README) changes the git commit, not the model, so it is not part of it."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(json.dumps(environment_record(), sort_keys=True).encode())
    for package in ("features", "models"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def identical_version(model_name: str, identity: dict[str, str]) -> str | None:
    """The first version of `model_name` whose tags record the same data hash, config
    fingerprint and code fingerprint (`IDENTITY_TAGS`), or None."""
    try:
        versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None  # no such model yet
    for version in sorted(versions, key=lambda v: int(v.version)):
        if all(version.tags.get(key) == identity[key] for key in IDENTITY_TAGS):
            return str(version.version)
    return None


def register_unless_identical(
    bundle_dir: Path, model_name: str, example: pd.DataFrame, signature, identity: dict[str, str]
) -> tuple[str, bool]:
    """Under the store lock (so two identical trainings at once register one version): the
    version already registered from the same data, config and code, and True; else a new
    version tagged with them, and False."""
    with store_lock():
        found = identical_version(model_name, identity)
        if found is not None:
            return found, True
        version = log_and_register(bundle_dir, model_name, example, signature)
        client = MlflowClient()
        for key in IDENTITY_TAGS:
            client.set_model_version_tag(model_name, version, key, identity[key])
        return version, False


def _log_model(bundle_dir: Path, model_name: str, example: pd.DataFrame, signature):
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(ENTRY_POINT),
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        # mlflow loads the model and predicts on the example when logging: a load check for free.
        input_example=example,
        registered_model_name=model_name,
        # Explicit requirements: inferring them would load the model in a subprocess.
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lgb.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"scikit-learn=={sklearn.__version__}",
        ],
    )


def champion_version(model_name: str) -> str | None:
    """The version the `champion` alias points at, or None."""
    try:
        return str(MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def resolve_model_uri(model: str | None, model_name: str) -> str:
    """`--model` as given (models:/..., runs:/..., a folder), or the champion of `model_name`."""
    return model or f"models:/{model_name}@{CHAMPION}"


def load_bundle(uri: str) -> ModelBundle:
    """Load a bundle from a local bundle folder, a logged pyfunc model or a registry URI."""
    local = Path(uri)
    if local.is_dir():
        return ModelBundle.load(bundle_folder(local) if (local / "MLmodel").exists() else local)
    source, recorded = registered_checksums(uri)
    destination = Path(tempfile.mkdtemp(prefix="churn-model-"))
    try:
        try:
            path = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(destination))
            )
        except MlflowException as exc:
            raise ChurnError(
                f"model {uri}: cannot be loaded ({exc.message.splitlines()[0]}); "
                "train one with `churn train` or pass --model URI"
            ) from None
        # The bundle is read into memory, so the download goes on every exit path.
        return ModelBundle.load(bundle_folder(path), uri, recorded)
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def registered_checksums(uri: str) -> tuple[str, dict | None]:
    """For `models:/NAME/VERSION` or `models:/NAME@ALIAS`: the URI of that one version (an alias
    pinned, so the files and the record match) and the checksums recorded at its registration."""
    if not uri.startswith("models:/"):
        return uri, None
    name = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in name:
            version = client.get_model_version_by_alias(*name.split("@", 1))
        else:
            version = client.get_model_version(*name.rsplit("/", 1))
    except (MlflowException, TypeError):
        return uri, None  # no such version (download says so) or a model-id URI: no record
    record = version.tags.get(CHECKSUM_TAG)
    return f"models:/{version.name}/{version.version}", json.loads(record) if record else None


def bundle_folder(model_dir: Path) -> Path:
    """Where the `bundle` artifact sits inside a downloaded pyfunc model (read from MLmodel)."""
    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    relative = meta["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
    return model_dir / relative


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    champion_version: str | None
    new_metrics: dict
    champion_metrics: dict | None


def promotion_decision(
    new: dict,
    champion: dict | None,
    margin: float,
    champion_version: str | None = None,
    on_profit: bool = False,
    baseline: dict | None = None,
) -> GateDecision:
    """Never promote a model whose test ROC AUC does not beat `baseline`'s (its own simple
    baseline, when given); else promote if there is no champion, or log loss and PR AUC are no
    worse by `margin` (and, `on_profit`, the expected maximum profit per customer no lower by
    that share of it)."""
    auc = new.get("roc_auc")  # every evaluation has one; hand-made metrics may not
    if auc is not None and auc <= 0.5:
        return GateDecision(
            False,
            f"ranks no better than chance on the test (ROC AUC {new['roc_auc']:.4f}): nothing "
            "to act on; add data or signal before promoting",
            champion_version,
            new,
            champion,
        )
    if baseline is not None and auc is not None and auc <= baseline["roc_auc"]:
        return GateDecision(
            False,
            f"does not beat its own baseline ({baseline.get('kind', 'baseline')}) on the test: "
            f"ROC AUC {new['roc_auc']:.4f} <= {baseline['roc_auc']:.4f}; add signal, or "
            "set training.require_beating_baseline: false to register it anyway",
            champion_version,
            new,
            champion,
        )
    if champion is None:
        reason = (
            "no current champion"
            if champion_version is None
            else f"champion v{champion_version} cannot score these test rows: nothing to compare"
        )
        return GateDecision(True, reason, champion_version, new, None)
    worse = []
    if new["log_loss"] > champion["log_loss"] + margin:
        worse.append(
            f"log loss {new['log_loss']:.4f} > champion {champion['log_loss']:.4f} + {margin}"
        )
    if new["pr_auc"] < champion["pr_auc"] - margin:
        worse.append(f"PR AUC {new['pr_auc']:.4f} < champion {champion['pr_auc']:.4f} - {margin}")
    # A champion that cannot price the rows (no value model) has no EMPC to compare.
    floor = champion["empc"] - margin * abs(champion["empc"]) if "empc" in champion else None
    if on_profit and floor is not None and new["empc"] < floor:
        worse.append(f"EMPC {new['empc']:.4f} < champion {champion['empc']:.4f}")
    if worse:
        return GateDecision(
            False,
            f"worse than champion v{champion_version}: " + "; ".join(worse),
            champion_version,
            new,
            champion,
        )
    reason = (
        f"no worse than champion v{champion_version} on the same test rows "
        f"(log loss {new['log_loss']:.4f} vs {champion['log_loss']:.4f}, "
        f"PR AUC {new['pr_auc']:.4f} vs {champion['pr_auc']:.4f}, margin {margin})"
    )
    return GateDecision(True, reason, champion_version, new, champion)


def apply_decision(
    model_name: str, version: str, decision: GateDecision, run_id: str
) -> tuple[str, GateDecision]:
    """Move the alias or tag a challenger; append to the registered model's history tag.

    Under the store lock the champion is read again: if another training moved it since the
    comparison, this model is not promoted over a champion it was never compared with (it stays
    a challenger, saying so). Returns the status and the decision as applied."""
    with store_lock():
        current = champion_version(model_name)
        if decision.promote and current != decision.champion_version:
            compared = f"v{decision.champion_version}" if decision.champion_version else "none"
            decision = GateDecision(
                False,
                f"champion moved to v{current} while this model was compared with {compared}: "
                "not promoted over a model it was not compared with; retrain to compare",
                decision.champion_version,
                decision.new_metrics,
                decision.champion_metrics,
            )
        return _apply(model_name, version, decision, run_id, current), decision


def _apply(
    model_name: str, version: str, decision: GateDecision, run_id: str, current: str | None
) -> str:
    client = MlflowClient()
    status = CHAMPION if decision.promote else "challenger"
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        log.info("model %s v%s is now %s: %s", model_name, version, CHAMPION, decision.reason)
    else:
        log.warning("model %s v%s stays a challenger: %s", model_name, version, decision.reason)
    client.set_model_version_tag(model_name, version, "gate.status", status)
    client.set_model_version_tag(model_name, version, "gate.reason", decision.reason[:4000])
    client.set_model_version_tag(
        model_name, version, "gate.compared_with", decision.champion_version or "none"
    )
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": version,
        "status": status,
        "previous_champion": current,  # the champion when the gate ran, read under the lock
        "compared_with": decision.champion_version,
        "run_id": run_id,
        "reason": decision.reason[:300],
    }
    existing = client.get_registered_model(model_name).tags.get(HISTORY_TAG, "[]")
    history = [*json.loads(existing), entry][-HISTORY_KEEP:]
    text = json.dumps(history)
    # Tag values are length-limited: drop the oldest entries until it fits.
    while len(text) > 5000 and len(history) > 1:
        history = history[1:]
        text = json.dumps(history)
    client.set_registered_model_tag(model_name, HISTORY_TAG, text)
    return status


def promotion_history(model_name: str) -> list[dict]:
    """The gate's decisions on `model_name`, oldest first (the last `HISTORY_KEEP`)."""
    tags = MlflowClient().get_registered_model(model_name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def history_markdown(history: list[dict], limit: int | None = None) -> str:
    """The history as a markdown table, newest first (the first `limit` rows)."""
    rows = [
        "| when (UTC) | version | result | champion before | compared with | why |",
        "|---|---|---|---|---|---|",
    ]
    for entry in list(reversed(history))[:limit]:
        cells = [
            entry["at"].replace("T", " ").removesuffix("+00:00"),
            f"v{entry['version']}",
            entry["status"],
            f"v{entry['previous_champion']}" if entry.get("previous_champion") else "none",
            f"v{entry['compared_with']}" if entry.get("compared_with") else "none",
            entry["reason"].replace("|", "/"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
