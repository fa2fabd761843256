"""ONNX models on Intel's OpenVINO runtime (the optional `openvino` extra), behind the part of an onnxruntime
InferenceSession the backends use.

Why: on the CPU it runs the embedders faster than OpenCV's dnn or onnxruntime, one thread each (BENCHMARKS.md,
issue 11): SFace 14-16 ms a face in fp32 against 23-28 on OpenCV's dnn with the same vectors, MobileFaceNet and
OSNet 3-4x faster. In bfloat16, where the CPU has it (AMX / AVX-512 BF16), SFace takes 4-6 ms, but the vectors
move (cosine 0.9995) and so did one benchmark episode's score: fp32 unless the `precision` option says bf16.
The detectors stay on onnxruntime, which was as fast or faster for them. The runtime, its version and the
precision are recorded in every run's manifest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from pathlib import Path

import numpy as np

from .errors import DependencyError, ModelError

log = logging.getLogger(__name__)
INSTALL_HINT = "install it with `pip install 'facecluster[openvino]'`, or use --runtime onnxruntime"
_CORE = None


def import_openvino():
    """openvino, without its usage report. `import openvino` imports its model converter, which sends an
    "import" event to Google Analytics from a forked process unless the user opted out beforehand (seen here:
    one fork per run). A facecluster run never calls out, so while openvino is first imported its telemetry
    package is hidden and the converter takes its own no-op stub; the hiding ends with the import."""
    if "openvino" in sys.modules or "openvino_telemetry" in sys.modules:
        import openvino

        return openvino
    sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import openvino
    finally:
        del sys.modules["openvino_telemetry"]
    return openvino


def available() -> bool:
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """Where converted and compiled models are kept between runs ($FACECLUSTER_OPENVINO_CACHE, else the user
    cache): preparing SFace from its file takes 0.9 s, loading the kept one 0.1 s. Deleting it only costs time."""
    if os.environ.get("FACECLUSTER_OPENVINO_CACHE"):
        return Path(os.environ["FACECLUSTER_OPENVINO_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facecluster" / "openvino"


def core():
    """One OpenVINO Core per process (it owns the plugins and the compiled-model cache)."""
    global _CORE
    if _CORE is None:
        try:
            openvino = import_openvino()
        except ImportError:
            raise DependencyError(f"runtime 'openvino': the openvino package is not installed; {INSTALL_HINT}") from None
        _CORE = openvino.Core()
        folder = cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _CORE.set_property({"CACHE_DIR": str(folder)})
        except (OSError, RuntimeError) as exc:  # no cache: every run compiles, nothing else changes
            log.debug("no OpenVINO model cache in %s: %s", folder, exc)
    return _CORE


def computes_in(precision: str) -> str:
    """The precision OpenVINO computes in for the one asked: bf16 only where the CPU has bfloat16 units."""
    return "bf16" if precision == "bf16" and "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


def info(precision: str = "f32") -> dict:
    """What a run records: the runtime's version and the precision it computed in."""
    openvino = import_openvino()
    return {"name": "openvino", "version": openvino.__version__.split("-")[0], "precision": computes_in(precision)}


class OpenVINOSession:
    """get_inputs / get_outputs / run like onnxruntime's InferenceSession, for an ONNX model given as bytes or a
    converted model (.xml, see converted). One inference thread, not pinned to a core (the pipeline's other
    threads share the cores)."""

    def __init__(self, source: bytes | Path, what: str, path: Path, threads: int = 1, precision: str = "f32"):
        openvino = import_openvino()
        try:
            if isinstance(source, Path):
                model = str(source)  # a file compiles from the cache without being read
            else:
                model = core().read_model(source)
                _dynamic_batch(model, openvino)
            config = {"INFERENCE_NUM_THREADS": max(1, threads), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                      "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": computes_in(precision)}
            try:
                self.compiled = core().compile_model(model, "CPU", config)
            except RuntimeError as exc:  # e.g. a damaged or half-written cache entry: compile without the cache
                log.debug("compiling %s without the model cache: %s", path, exc)
                self.compiled = core().compile_model(model, "CPU", {**config, "CACHE_DIR": ""})
        except RuntimeError as exc:  # OpenVINO raises RuntimeError (or subclasses) for graphs it cannot take
            lines = str(exc).strip().splitlines()
            raise ModelError(f"cannot load {what} {path} with OpenVINO: {lines[0] if lines else type(exc).__name__}; "
                             f"check the file (`facecluster models verify`) or use --runtime onnxruntime") from None
        self.request = self.compiled.create_infer_request()
        self._inputs = [_declared(p) for p in self.compiled.inputs]
        self._outputs = [_declared(p) for p in self.compiled.outputs]
        self._port = {name: i for i, port in enumerate(self.compiled.outputs) for name in port.get_names()}

    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs

    def run(self, output_names, feeds: dict):
        results = self.request.infer({name: np.ascontiguousarray(value) for name, value in feeds.items()})
        values = list(results.values())
        wanted = range(len(values)) if not output_names else [self._port[n] for n in output_names]
        return [np.array(values[i], copy=True) for i in wanted]  # the request reuses its buffers


def converted(key: str, onnx_bytes, again: bool = False) -> Path | None:
    """The model converted to OpenVINO's own format in the cache (made once from `onnx_bytes()`, a model file
    with its graph fixes applied, batch made dynamic), so that later runs neither fix, fold nor parse the ONNX
    file: SFace loads in 0.1 s instead of 0.9. None where the cache cannot be written (the caller loads the
    ONNX bytes). `again`: replace an entry that would not load."""
    openvino = import_openvino()
    xml = cache_dir() / f"{key}.xml"
    if not again and xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    tmp = xml.with_name(f"{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}.xml")
    try:
        model = core().read_model(onnx_bytes())
        _dynamic_batch(model, openvino)
        xml.parent.mkdir(parents=True, exist_ok=True)
        openvino.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))  # the .bin first: a reader wants both
        os.replace(tmp, xml)
    except (OSError, RuntimeError) as exc:
        log.debug("cannot keep %s in the OpenVINO cache: %s", key, exc)
        for part in (tmp, tmp.with_suffix(".bin")):  # a half-written conversion (e.g. a full disk)
            with contextlib.suppress(OSError):
                part.unlink()
        return None
    return xml


def _declared(port):
    from .onnx import Declared

    shape = port.get_partial_shape()
    dims = [d.get_length() if d.is_static else "?" for d in shape] if shape.rank.is_static else []
    return Declared(port.get_any_name(), dims)


def _dynamic_batch(model, openvino) -> None:
    """Inputs declared with batch 1 take any batch, when the graph's shapes allow it."""
    shapes = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_static and len(shape) >= 1 and shape[0].is_static and shape[0].get_length() == 1:
            shapes[port.get_any_name()] = openvino.PartialShape([-1] + [shape[i] for i in range(1, len(shape))])
    if shapes:
        try:
            model.reshape(shapes)
        except RuntimeError as exc:
            log.debug("keeping the declared batch size: %s", exc)
