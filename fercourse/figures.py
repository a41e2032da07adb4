"""What every ``*Display`` shares (scikit-learn's convention): ``from_*`` builds the display from
data and draws it unless ``draw=False``; ``plot(ax=...)`` draws into given axes or a new figure,
returns the display, and sets ``figure_`` and ``ax_`` (one Axes, or an array of them)."""
from __future__ import annotations

import numpy as np


def axes_for(ax, shape: tuple[int, int], figsize: tuple[float, float]):
    """``ax`` as given (one Axes, or an array of ``shape`` Axes), or a new figure's axes of that
    ``shape`` and ``figsize`` (inches); returns ``(figure, ax)`` with ``ax`` squeezed like
    ``plt.subplots`` does (a single Axes for (1, 1), a 1-D array for one row)."""
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(*shape, figsize=figsize, squeeze=shape[0] == 1)
    first = np.ravel(ax)[0] if np.ndim(ax) else ax
    if np.size(ax) != shape[0] * shape[1]:
        raise ValueError(f"this figure needs {shape[0]} x {shape[1]} axes, got {np.size(ax)}")
    return first.figure, ax


def drawn(display, draw: bool, ax=None):
    """``display.plot(ax=ax)`` when ``draw``, else ``display`` (for ``from_*`` constructors)."""
    return display.plot(ax=ax) if draw else display


def show_as_jpeg(figure, quality: int = 85) -> None:
    """Display ``figure`` in a notebook as a JPEG and close it: photographs (noise, gradients)
    take several times the bytes as a PNG, and every figure is stored in the committed notebook."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="jpeg", dpi=figure.dpi, bbox_inches="tight", pil_kwargs={"quality": quality})
    plt.close(figure)
    display(Image(data=buffer.getvalue(), format="jpeg"))
