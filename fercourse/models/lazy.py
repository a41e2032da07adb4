"""Keras classes defined on first use: defining one imports TensorFlow, and importing a fercourse
module must stay cheap and change nothing in the process."""
from __future__ import annotations


def lazy_classes(namespace: dict, **builders):
    """A module ``__getattr__`` that defines each class of ``builders`` (name -> function that
    returns it) when it is first asked for, and keeps it in ``namespace`` (the module's globals).
    Inside the module, call the returned function with the name."""
    def __getattr__(name: str):
        if name not in namespace:
            if name not in builders:
                raise AttributeError(name)
            namespace[name] = builders[name]()
        return namespace[name]

    return __getattr__
