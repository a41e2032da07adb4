"""Evaluation: metrics (scikit-learn), Display objects, the model comparison table."""
from .compare import comparison_table, latency_ms, trainable_count, weights_megabytes
from .displays import ConfusionDisplay, HistoryComparisonDisplay, HistoryDisplay, RocDisplay
from .metrics import ClassificationReport, predict_proba, predict_split

__all__ = ["ClassificationReport", "ConfusionDisplay", "HistoryComparisonDisplay", "HistoryDisplay", "RocDisplay",
           "comparison_table", "latency_ms", "predict_proba", "predict_split", "trainable_count", "weights_megabytes"]
