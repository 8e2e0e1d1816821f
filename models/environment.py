"""The software behind a run's numbers: Python and the installed versions of every package that
reads, computes or records them (training logs this as `environment.json` and `env.*` params)."""

from __future__ import annotations

import platform
from importlib import metadata

# Distribution names, as pip knows them.
NUMERIC_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "ibis-framework",
    "sqlglot",
    "scipy",
    "scikit-learn",
    "lightgbm",
    "optuna",
    "shap",
    "mlflow",
)


def package_versions(names: tuple[str, ...] = NUMERIC_PACKAGES) -> dict[str, str]:
    """Installed version of each distribution (`not installed` when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment_record() -> dict:
    """Python (version, implementation, platform) and the numeric packages' versions."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
