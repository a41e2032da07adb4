"""Evaluation: metrics (scikit-learn), Display objects, and the model comparison table."""
from .displays import ConfusionDisplay, HistoryDisplay, RocDisplay
from .metrics import ClassificationReport, predict_proba

__all__ = ["ClassificationReport", "ConfusionDisplay", "HistoryDisplay", "RocDisplay", "predict_proba"]
