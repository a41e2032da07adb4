"""fercourse: the library behind the CNN coursework notebooks.

Layout, following the flow of the course:

* ``fercourse.env`` -- ``setup()``: quiet TensorFlow import, seeds, plot style, what a chapter runs on
* ``fercourse.paths`` -- repository, cache and build folders
* ``fercourse.gradcheck`` -- numeric gradients and gradient comparison tables
* ``fercourse.summary`` -- Keras model summaries as tables
* ``fercourse.theory`` -- helpers of the theory chapters (Q1-Q4)
* ``fercourse.report`` -- execute the notebooks, export HTML and PDF

Importing the package is cheap: TensorFlow loads only when a function needs it.
"""
from .env import setup

__version__ = "0.1.0"
__all__ = ["setup", "__version__"]
