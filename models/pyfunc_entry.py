"""mlflow "models from code" entry point: mlflow executes this file to build the pyfunc model.

It is never imported by the pipeline. mlflow runs it at log and load time, and the
`set_model` call at the bottom is how models-from-code registers the model instead of
pickling a Python object. The model itself is the plain-file bundle in the `bundle` artifact.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ChurnModel(PythonModel):
    """Calibrated churn probability from the saved bundle (LightGBM text + JSON)."""

    def load_context(self, context) -> None:
        from models.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        return pd.DataFrame({"churn_probability": self.bundle.predict_proba(frame)})


mlflow.models.set_model(ChurnModel())
