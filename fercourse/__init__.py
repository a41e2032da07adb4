"""fercourse: the library behind the CNN coursework notebooks.

Layout, following the flow of the course:

* ``fercourse.session`` -- ``setup()``: quiet TensorFlow import, seeds, plot style, what a chapter runs on
* ``fercourse.paths`` / ``fercourse.atomic`` -- repository, cache and build folders; atomic writes
* ``fercourse.data`` -- data root, folder layout, robust decoding, decoded-image cache, tf.data
* ``fercourse.synthetic`` -- the built-in generated expression dataset (not AffectNet)
* ``fercourse.augment`` -- augmentation layers and offline expansion
* ``fercourse.models`` / ``fercourse.pretrained`` -- model builders; where VGG16 weights come from
* ``fercourse.train`` -- policy, fit loop with callbacks, model store, cached features
* ``fercourse.evaluate`` -- metrics, Display objects, model comparison
* ``fercourse.gradcheck`` / ``fercourse.summary`` / ``fercourse.viz`` -- gradient checks, layer tables, image grids
* ``fercourse.theory`` -- helpers of the theory chapters (Q3 network and sympy, convolution arithmetic)
* ``fercourse.photos`` -- ``fercourse.predict``: every face in your own photos, classified
* ``fercourse.report`` -- execute the notebooks, export HTML and PDF

Importing the package is cheap: TensorFlow loads only when a function needs it.
"""
from .session import setup

__version__ = "0.1.0"
__all__ = ["predict", "setup", "__version__"]


def __getattr__(name):  # fercourse.predict, imported on first use (importing the package stays cheap)
    if name == "predict":
        from .photos import predict

        return predict
    raise AttributeError(f"module 'fercourse' has no attribute {name!r}")
