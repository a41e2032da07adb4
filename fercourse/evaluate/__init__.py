"""Evaluation: metrics (scikit-learn), Display objects, and the model comparison table."""
from .compare import comparison_table, latency_ms, weights_megabytes
from .displays import ConfusionDisplay, HistoryDisplay, RocDisplay
from .metrics import ClassificationReport, predict_proba

__all__ = ["ClassificationReport", "ConfusionDisplay", "HistoryDisplay", "RocDisplay", "comparison_table",
           "latency_ms", "predict_proba", "weights_megabytes"]
