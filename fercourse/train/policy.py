"""Numeric policy: bfloat16 where the hardware computes it natively, float32 elsewhere.

On CPUs with AMX or AVX-512 BF16, ``mixed_bfloat16`` trains the light VGG markedly faster
than float32. On CPUs without them (e.g. AVX2-only machines) TensorFlow *emulates*
bfloat16 and the same model trains several times slower (docs/experiments.md has the
measurements) -- so the choice is made from the hardware, never assumed.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}

# oneDNN's instruction-set caps (``ONEDNN_MAX_CPU_ISA``) below which it has no bfloat16
# arithmetic: a user who caps it (to mimic an AVX2 machine, say) gets emulated bfloat16 even
# on a CPU whose flags have it, so the policy must follow the cap, not only the flags.
ISAS_WITHOUT_BF16 = {"sse41", "avx", "avx2", "avx2_vnni", "avx2_vnni_2", "avx512_core",
                     "avx512_core_vnni"}


def onednn_limit() -> str | None:
    """Why oneDNN cannot compute bfloat16 here although the CPU could, or None.

    Reads ``TF_ENABLE_ONEDNN_OPTS`` (0: TensorFlow's oneDNN kernels are off, Eigen emulates
    bfloat16) and ``ONEDNN_MAX_CPU_ISA`` / its older name ``DNNL_MAX_CPU_ISA``.
    """
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower() in {"0", "false"}:
        return "TF_ENABLE_ONEDNN_OPTS=0 turns TensorFlow's oneDNN kernels off"
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        cap = os.environ.get(name, "").strip()
        if cap.lower() in ISAS_WITHOUT_BF16:
            return f"{name}={cap} caps oneDNN below bfloat16"
    return None


def cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where unavailable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_policy() -> tuple[str, str]:
    """(Keras dtype policy name, reason). ``FERCOURSE_POLICY`` overrides the choice."""
    forced = os.environ.get("FERCOURSE_POLICY")
    if forced:
        return forced, "set by FERCOURSE_POLICY"
    from ..env import import_tensorflow

    tf, _ = import_tensorflow()
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16", "a GPU is present: float16 tensor cores"
    flags = cpu_flags() & BF16_CPU_FLAGS
    limit = onednn_limit()
    if flags and limit:
        return "float32", f"the CPU has bfloat16 ({', '.join(sorted(flags))}), but {limit}"
    if flags:
        return "mixed_bfloat16", f"the CPU computes bfloat16 natively ({', '.join(sorted(flags))})"
    return "float32", "no native bfloat16 on this CPU (needs AMX or AVX-512 BF16)"


@contextlib.contextmanager
def policy_scope(name: str | None = None):
    """Build models under policy ``name`` (default: the hardware's choice), then restore the
    previous global policy -- one recipe's bfloat16 must not leak into the next model.

    Layers keep the policy they were built with, so a model built inside the scope computes
    in it after the scope ends.
    """
    from ..env import import_tensorflow

    _, keras = import_tensorflow()
    previous = keras.config.dtype_policy()
    name = name or choose_policy()[0]
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def scoped_policy(func=None, *, fixed: str | None = None):
    """Decorator: run ``func`` inside :func:`policy_scope` of its ``policy=`` argument
    (or of ``fixed``)."""
    def wrap(inner):
        @functools.wraps(inner)
        def wrapper(*args, **kwargs):
            with policy_scope(fixed or kwargs.get("policy")):
                return inner(*args, **kwargs)
        return wrapper

    return wrap(func) if func is not None else wrap
