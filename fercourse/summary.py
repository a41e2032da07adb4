"""Keras model summaries as tables.

``model.summary()`` draws box characters that do not survive a LaTeX/PDF export and
cannot be compared by tests; a DataFrame can be both displayed and asserted on.
"""
from __future__ import annotations


def layer_table(model):
    """One row per layer: name, type, output shape (without batch), parameters.

    Returns a pandas DataFrame; the last row is the total.
    """
    import pandas as pd

    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "output shape": " x ".join(str(d) for d in shape), "parameters": int(layer.count_params())})
    rows.append({"layer": "total", "type": "", "output shape": "", "parameters": int(model.count_params())})
    return pd.DataFrame(rows)
