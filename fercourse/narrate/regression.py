"""Sentences about the valence/arousal regressor (:class:`fercourse.evaluate.regression.RegressionReport`)."""
from __future__ import annotations

from ..evaluate.regression import RegressionReport


def va_sentences(report: RegressionReport, baseline: RegressionReport) -> str:
    """What the regressor learned, decided by the numbers: CCC and RMSE against the mean
    predictor per dimension, and which dimension it reads better."""
    ours, base = report.table(), baseline.table()
    parts = []
    for name in report.dimensions:
        better = ours.loc[name, "RMSE"] < base.loc[name, "RMSE"]
        parts.append(f"{name}: CCC {ours.loc[name, 'CCC']:.2f} (the mean predictor: 0), RMSE "
                     f"{ours.loc[name, 'RMSE']:.3f} against {base.loc[name, 'RMSE']:.3f} "
                     f"({'better than' if better else 'no better than'} predicting the training mean), "
                     f"sign right on {ours.loc[name, 'SAGR']:.0%} of the images")
    first, second = report.dimensions[:2]
    lead = first if ours.loc[first, "CCC"] > ours.loc[second, "CCC"] else second
    return ("; ".join(parts) + f". The network reads {lead} better"
            + (" - on this set, as in AffectNet's own baselines, valence (which expression) is easier "
               "to see in a face than arousal (how intense)." if lead == "valence" else "."))
