"""Risk models from files: points nomograms, Cox and Fine-Gray models (``docs/risk-models.md``).

A model is a reviewed YAML file citing its source; :func:`load_model` checks it (every problem, with
its path in the file) and :meth:`RiskModel.predict` gives one patient's risk at the model's horizons,
refusing inputs that are missing, unknown or outside the range the model was developed on.

    >>> from sarcotrial.riskmodels import load_model
    >>> model = load_model("examples/riskmodels/synthetic-points.yaml")      # doctest: +SKIP
    >>> model.predict({"age": 60, "size_cm": 10, "grade": "3", "depth": "deep"}).risk(5)  # doctest: +SKIP
"""

from sarcotrial.riskmodels.predict import InputSpec, ModelFileError, Prediction, RiskModel, load_model, rcs_terms

__all__ = ["InputSpec", "ModelFileError", "Prediction", "RiskModel", "load_model", "rcs_terms"]
