"""Evaluation: metrics (scikit-learn), Display objects, the model comparison table, cross-validation."""
from .compare import comparison_table, latency_ms, trainable_count, weights_megabytes
from .crossval import CrossValidation, CrossValidationDisplay, cross_validate, subject_groups
from .displays import ConfusionDisplay, HistoryComparisonDisplay, HistoryDisplay, RocDisplay
from .metrics import ClassificationReport, predict_proba, predict_split

__all__ = ["ClassificationReport", "ConfusionDisplay", "CrossValidation", "CrossValidationDisplay",
           "HistoryComparisonDisplay", "HistoryDisplay", "RocDisplay", "comparison_table", "cross_validate",
           "latency_ms", "predict_proba", "predict_split", "subject_groups", "trainable_count", "weights_megabytes"]
