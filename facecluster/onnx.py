"""One place that opens ONNX models (onnxruntime; OpenCV's dnn or OpenVINO where a backend measured them faster
on the CPU), so every backend gets the same threads, device, runtime, log level, errors and model-file fixes.

Model-file fix "dangling-inputs" (opencv_zoo's block-quantised `*_int8bq.onnx`, e.g. SFace): the
quantiser replaced each weight by DequantizeLinear -> Reshape but left the old weight names declared as
graph inputs, so onnxruntime demands them as inputs and refuses to run. At load time the graph is
rewritten in memory: graph inputs that no node reads (and initializers listed as inputs) are dropped and
the batch dimension is made dynamic; with QDQ handling off, onnxruntime then folds the constant
DequantizeLinear/Reshape nodes into fp32 weights, so the optimised graph equals the fp32 export's
(vectors match it, cosine 1.000000 on real aligned faces). The edit works on the protobuf wire format
directly, which keeps the `onnx` package out of the dependencies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, DependencyError, ModelError
from .models import REGISTRY, ResolvedModel
from .protobuf import field, fields, rewrite, strings

log = logging.getLogger(__name__)
DEVICES = ("cpu", "cuda", "auto")
RUNTIMES = ("auto", "openvino", "onnxruntime")
GPU_HINT = ("install onnxruntime-gpu: `pip install 'facecluster[gpu]'`, then `pip uninstall -y onnxruntime` and "
            "`pip install --force-reinstall onnxruntime-gpu` (the CPU and GPU wheels share one module), with an "
            "NVIDIA driver for CUDA 12/13; or use --device cpu")
_ORT = None
_notices: set[str] = set()


def import_onnxruntime():
    """onnxruntime, with its global log level set to errors only (once per process)."""
    global _ORT
    if _ORT is None:
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
        _ORT = onnxruntime
    return _ORT


def _notice_once(message: str) -> None:
    if message not in _notices:
        _notices.add(message)
        log.info(message)


def providers_for(device: str) -> list[str]:
    """onnxruntime execution providers for a device setting; `cuda` without CUDA is a DependencyError."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    ort = import_onnxruntime()
    if "CUDAExecutionProvider" in ort.get_available_providers():
        if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* pip packages, when present
            try:
                ort.preload_dlls()
            except Exception as exc:  # a missing library shows up again when the session is made
                log.debug("onnxruntime.preload_dlls: %s", exc)
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise DependencyError(f"device 'cuda': this onnxruntime has no CUDA support; {GPU_HINT}")
    _notice_once("no CUDA-enabled onnxruntime found: models run on the CPU (device auto)")
    return ["CPUExecutionProvider"]


def runtime_for(runtime: str, device: str) -> str:
    """What runs the models that OpenVINO may run: "openvino" (asked for, or "auto" with the openvino package
    installed) when the models run on the CPU, else "onnxruntime" (onnxruntime, or OpenCV's dnn where a backend
    measured it faster; on a GPU always onnxruntime's CUDA provider)."""
    from . import ov_session

    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if runtime == "onnxruntime" or providers_for(device)[0] != "CPUExecutionProvider":
        return "onnxruntime"
    if runtime == "openvino":
        ov_session.core()  # a DependencyError saying how to install it
        return "openvino"
    return "openvino" if ov_session.available() else "onnxruntime"


def runtime_info(runtime: str, device: str, precision: str = "f32") -> dict:
    """What a run records about the runtime its models ran on."""
    if runtime_for(runtime, device) == "openvino":
        from . import ov_session

        return ov_session.info(precision)
    ort = import_onnxruntime()
    return {"name": "onnxruntime", "version": ort.__version__, "precision": "f32",
            "device": "cuda" if providers_for(device)[0] == "CUDAExecutionProvider" else "cpu"}


def engine_of(session) -> str | None:
    """What runs a session: "openvino", "opencv" or "onnxruntime" (None: not a model session)."""
    name = type(session).__name__
    return {"OpenVINOSession": "openvino", "OpenCVSession": "opencv", "InferenceSession": "onnxruntime"}.get(name)


def load_session(model: ResolvedModel, what: str, threads: int = 1, device: str = "cpu", engine: str = "onnxruntime",
                 runtime: str = "onnxruntime", precision: str = "f32"):
    """InferenceSession for `model` on `device` ("cpu", "cuda" or "auto"); a file onnxruntime cannot load is
    a ModelError naming it. On the CPU the backend's `engine` says what runs it fastest, as measured for it:
    "opencv" (OpenCV's dnn, an OpenCVSession with the same interface, where OpenCV can import the graph),
    "openvino" (an OpenVINOSession where `runtime` resolves to OpenVINO, see runtime_for; else as "opencv") or
    "onnxruntime".

    One thread by default: the pipeline decodes on the other core at the same time, and two inference
    threads per model oversubscribed the 2-core machine (fast profile 3.2x -> 4.9x real time measured)."""
    providers = providers_for(device)
    if engine == "openvino" and runtime_for(runtime, device) == "openvino":
        return _openvino_session(model, what, threads, precision)
    if engine in ("opencv", "openvino") and providers[0] == "CPUExecutionProvider":
        try:
            return OpenCVSession(model, what)
        except ModelError as exc:  # a graph OpenCV cannot import (other exports): onnxruntime runs it, or says why
            log.debug("%s; onnxruntime runs it instead", exc)
    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    fix = _fix_of(model)
    source: str | bytes = str(model.path)
    if fix:
        source = apply_fix(fix, Path(model.path))
        # let the optimiser fold DequantizeLinear of constant weights (QDQ handling would keep them)
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    session = _ort_session(source, opts, providers, what, model.path)
    if providers[0] == "CUDAExecutionProvider" and "CUDAExecutionProvider" not in session.get_providers():
        if device == "cuda":
            raise DependencyError(f"device 'cuda': onnxruntime could not start CUDA for {what} (driver, CUDA or "
                                  f"cuDNN libraries missing); {GPU_HINT}")
        _notice_once("CUDA could not be started (driver or libraries missing): models run on the CPU (device auto)")
    return session


def _ort_session(source: str | bytes, opts, providers: list[str], what: str, path):
    """onnxruntime.InferenceSession, or a ModelError naming the file."""
    try:
        return import_onnxruntime().InferenceSession(source, opts, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for bad files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"cannot load {what} {path}: {message}; check the file "
                         f"(`facecluster models verify`) or choose another model") from None


def _model_bytes(model: ResolvedModel) -> bytes:
    """The model file's bytes with its graph fix applied (if it needs one)."""
    fix = _fix_of(model)
    return apply_fix(fix, Path(model.path)) if fix else Path(model.path).read_bytes()


def _openvino_session(model: ResolvedModel, what: str, threads: int, precision: str):
    from . import ov_session

    fix = _fix_of(model)

    def onnx_bytes() -> bytes:
        data = _model_bytes(model)
        return _folded(data, what, Path(model.path)) if fix == "dangling-inputs" else data

    key = f"{model.sha256[:32]}-{fix or 'as-is'}"
    source = ov_session.converted(key, onnx_bytes) if model.sha256 else None
    if source is not None:
        try:
            return ov_session.OpenVINOSession(source, what, Path(model.path), threads, precision)
        except ModelError as exc:  # a damaged cache entry: made again from the model file
            log.debug("%s; converting %s again", exc, model.path)
            source = ov_session.converted(key, onnx_bytes, again=True)
    return ov_session.OpenVINOSession(source or onnx_bytes(), what, Path(model.path), threads, precision)


def _folded(data: bytes, what: str, path: Path) -> bytes:
    """A block-quantised graph with its constant DequantizeLinear nodes folded into fp32 weights by onnxruntime's
    basic optimiser (standard ONNX operators only): OpenVINO cannot convert DequantizeLinear with blocks
    (opset 21). 0.2 s for SFace, once per model load."""
    import tempfile

    ort = import_onnxruntime()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    with tempfile.TemporaryDirectory(prefix="facecluster-") as tmp:
        opts.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        _ort_session(data, opts, ["CPUExecutionProvider"], what, path)
        return Path(opts.optimized_model_filepath).read_bytes()


def _fix_of(model: ResolvedModel) -> str | None:
    """The graph fix a model file needs: its own, or its registry entry's."""
    return model.load_fix or getattr(REGISTRY.get(model.name), "load_fix", None)


def quiet_opencv() -> None:
    """OpenCV's own log at errors only: OpenCV 5 warns on every dnn net that its new graph engine ignores
    targets, which is noise for users."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class OpenCVSession:
    """The part of an onnxruntime InferenceSession the backends use (get_inputs, get_outputs, run), on OpenCV's
    dnn engine. Why: for some models it is much faster on the CPU with the same outputs (SFace: 21 vs 37 ms a
    face on one thread, cosine 1.0000 to onnxruntime's vectors). Threads follow cv2.setNumThreads."""

    def __init__(self, model: ResolvedModel, what: str):
        import cv2

        quiet_opencv()
        try:
            data = _model_bytes(model)
            self._inputs, self._outputs = graph_io(data)
            self.net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
        except (cv2.error, StopIteration, ValueError, IndexError, UnicodeDecodeError) as exc:
            lines = str(getattr(exc, "msg", exc)).strip().splitlines()
            raise ModelError(f"cannot load {what} {model.path} with OpenCV: {lines[0] if lines else type(exc).__name__}; "
                             f"check the file (`facecluster models verify`) or choose another model") from None
        self._names = [o.name for o in self._outputs]

    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs

    def run(self, output_names, feeds: dict):
        for name, value in feeds.items():
            self.net.setInput(value, name)
        return list(self.net.forward(self._names))


@dataclass(frozen=True)
class Declared:
    name: str
    shape: list  # ints, or the symbolic name (str) of a dynamic dimension


def graph_io(model: bytes) -> tuple[list[Declared], list[Declared]]:
    """An ONNX model's declared inputs (initializers listed as inputs left out) and outputs."""
    graph = next(p for n, w, p in fields(model) if n == 7 and w == 2)
    initializers = {s for n, w, p in fields(graph) if n == 5 and w == 2 for s in strings(p, 8)}
    return [i for i in _declared(graph, 11) if i.name not in initializers], _declared(graph, 12)


def _declared(graph: bytes, number: int) -> list[Declared]:
    """The graph's declared inputs (11) or outputs (12), with their shapes."""
    def sub(buf: bytes, number: int) -> list[bytes]:
        return [p for n, w, p in fields(buf) if n == number and w == 2]

    out = []
    for info in sub(graph, number):
        shape = []
        for dims in (s for t in sub(info, 2) for tensor in sub(t, 1) for s in sub(tensor, 2)):
            for dim in sub(dims, 1):
                value = [(n, p) for n, w, p in fields(dim) if n in (1, 2)]
                shape.append("?" if not value else value[0][1] if value[0][0] == 1 else value[0][1].decode())
        out.append(Declared((strings(info, 1) or [""])[0], shape))
    return out


# ---- model-file fixes on the protobuf wire format --------------------------------------------------------
# ModelProto.graph = 7; GraphProto: node = 1, initializer = 5, input = 11, output = 12;
# NodeProto.input = 1; TensorProto.name = 8; ValueInfoProto: name = 1, type = 2; TypeProto.tensor_type = 1;
# TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1; Dimension: dim_value = 1, dim_param = 2.

def _symbolic_dims(value_info: bytes, dims: range, prefix: str) -> bytes:
    """ValueInfoProto with the dimensions at positions `dims` made symbolic ('<prefix><i>')."""
    def shape(payload: bytes) -> bytes:
        position = iter(range(1 << 30))

        def dim(d: bytes) -> bytes:
            i = next(position)
            return field(2, f"{prefix}{i}".encode()) if i in dims else d

        return rewrite(payload, 1, dim)

    return rewrite(value_info, 2, lambda t: rewrite(t, 1, lambda tensor: rewrite(tensor, 2, shape)))


def _fix_dangling_inputs(graph: bytes) -> bytes:
    consumed, initializers, outputs = set(), set(), set()
    for n, w, p in fields(graph):
        if n == 1 and w == 2:
            consumed.update(strings(p, 1))
        elif n == 5 and w == 2:
            initializers.update(strings(p, 8))
        elif n == 12 and w == 2:
            outputs.update(strings(p, 1))

    def graph_input(payload: bytes) -> bytes | None:
        name = (strings(payload, 1) or [""])[0]
        if name in initializers or (name not in consumed and name not in outputs):
            return None
        return _symbolic_dims(payload, range(1), "N")

    graph = rewrite(graph, 11, graph_input)
    return rewrite(graph, 12, lambda info: _symbolic_dims(info, range(1), "N"))


def _fix_dynamic_size(graph: bytes) -> bytes:
    """A fully convolutional model exported at one input size (YuNet at 640x640) made to run at any: the input's
    height and width and the outputs' anchor counts become symbolic, the stored intermediate shapes go."""
    graph = rewrite(graph, 11, lambda info: _symbolic_dims(info, range(2, 4), "in"))
    graph = rewrite(graph, 12, lambda info: _symbolic_dims(info, range(1, 2), "out"))
    return rewrite(graph, 13, lambda info: None)


FIXES = {"dangling-inputs": _fix_dangling_inputs, "dynamic-size": _fix_dynamic_size}


def apply_fix(fix: str, path: Path) -> bytes:
    """The model file's bytes with graph fix `fix` applied (see the module docstring)."""
    try:
        return rewrite(path.read_bytes(), 7, FIXES[fix])
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {path} as an ONNX model ({exc}); check the file "
                         f"(`facecluster models verify`)") from None
