"""The feature specification saved with a model: names, dtypes and category levels.

Scoring turns any frame into the model's numeric matrix through the same spec, so category
codes mean the same thing at training and at scoring (an unseen level becomes missing).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.contract import KEY_COLUMNS
from features.errors import DataContractError

log = logging.getLogger(__name__)


def feature_names(frame: pd.DataFrame) -> list[str]:
    """Feature columns of a training matrix: everything but the key columns, in order."""
    return [column for column in frame.columns if column not in KEY_COLUMNS]


@dataclass(frozen=True)
class FeatureSpec:
    """What a model expects: feature order, numeric or categorical, and category levels."""

    names: list[str]
    dtypes: dict[str, str]
    categories: dict[str, list[str]]
    config_fingerprint: str = ""
    code_version: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        names: list[str] | None = None,
        config_fingerprint: str = "",
        code_version: str = "",
    ) -> FeatureSpec:
        """Read the spec off a (training) frame; non-numeric columns become categorical."""
        names = list(names) if names is not None else feature_names(frame)
        dtypes: dict[str, str] = {}
        categories: dict[str, list[str]] = {}
        for name in names:
            column = frame[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                dtypes[name] = "category"
                categories[name] = [str(level) for level in column.cat.categories]
            elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
                dtypes[name] = "float64"
            else:
                # A string column that should have been categorical: levels from training only.
                dtypes[name] = "category"
                categories[name] = sorted(str(value) for value in column.dropna().unique())
        return cls(names, dtypes, categories, config_fingerprint, code_version)

    @property
    def categorical_indices(self) -> list[int]:
        """Positions of categorical features, as LightGBM's `categorical_feature` wants."""
        return [i for i, name in enumerate(self.names) if self.dtypes[name] == "category"]

    def to_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the booster reads: numeric as is, categories as spec codes."""
        missing = [name for name in self.names if name not in frame.columns]
        if missing:
            raise DataContractError(
                [
                    f"feature matrix: {len(missing)} feature(s) the model needs are missing, "
                    f"e.g. {missing[:5]}; build features with the model's config"
                ]
            )
        matrix = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for i, name in enumerate(self.names):
            column = frame[name]
            if self.dtypes[name] == "category":
                levels = self.categories[name]
                codes = pd.Categorical(
                    column.astype("str").where(column.notna()), categories=levels
                )
                values = codes.codes.astype(np.float64)
                values[values < 0] = np.nan
                matrix[:, i] = values
            else:
                matrix[:, i] = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
        return matrix

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(**data)
