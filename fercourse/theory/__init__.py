"""Helpers of the theory chapters: one module per question (Q3 network and its symbolic twin, ...)."""
