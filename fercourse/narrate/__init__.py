"""Prose computed from results, one module per subject, so that a chapter's text cannot
contradict its outputs when it is re-run on another machine: every comparison, ranking and
verdict in a sentence is decided by the numbers passed in. Render with
``IPython.display.Markdown``.
"""
from .cam import (failure_sentence, faithfulness_sentence, improvement_sentence, penalty_sentence,
                  region_sentence)
from .classification import (chance_level, confusion_paragraph, fit_sentence, ranking_sentence, stuck_at_chance,
                             top_confusions)
from .equivariance import consistency_sentence, layer_sentence
from .export import export_sentences
from .photos import photo_sentence
from .regression import va_sentences

__all__ = ["chance_level", "confusion_paragraph", "consistency_sentence", "export_sentences", "failure_sentence",
           "faithfulness_sentence", "fit_sentence", "improvement_sentence", "layer_sentence", "penalty_sentence",
           "photo_sentence", "ranking_sentence", "region_sentence", "stuck_at_chance", "top_confusions", "va_sentences"]
