"""One place that opens ONNX models with onnxruntime, so every backend gets the same threads and errors."""

from __future__ import annotations

from .errors import ModelError
from .models import ResolvedModel


def load_session(model: ResolvedModel, what: str, threads: int = 1):
    """CPU InferenceSession for `model`; a file onnxruntime cannot load is a ModelError naming it.

    One thread by default: the pipeline decodes on the other core at the same time, and two inference
    threads per model oversubscribed the 2-core machine (fast profile 3.2x -> 4.9x real time measured)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model.path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for bad files
        raise ModelError(f"cannot load {what} {model.path}: {str(exc).splitlines()[0]}; "
                         f"check the file (`facecluster models verify`) or choose another model") from None
