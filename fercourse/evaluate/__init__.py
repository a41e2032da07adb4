"""Evaluation: metrics (scikit-learn), Display objects, and the model comparison table."""
from .compare import comparison_table, latency_ms, weights_megabytes
from .displays import ConfusionDisplay, HistoryComparisonDisplay, HistoryDisplay, RocDisplay
from .metrics import ClassificationReport, predict_proba

__all__ = ["ClassificationReport", "ConfusionDisplay", "HistoryComparisonDisplay", "HistoryDisplay", "RocDisplay", "comparison_table",
           "latency_ms", "predict_proba", "weights_megabytes"]
