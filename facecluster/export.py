"""Torch face embedders: loading a user's `.pt`, their preprocessing, and the one-time ONNX export that
lets the default pipeline keep running on onnxruntime (`facecluster models export`).

A `.pt` is used when it holds the network itself: a TorchScript file (`torch.jit.script(m).save(p)`) or
a whole pickled `nn.Module` (`torch.save(m, p)`, whose class must be importable here). A state dict holds
only weights: the architecture has to be built in Python first (the error says how).

Preprocessing of the 5-point aligned face chips: square size, mean and std (one value or one per
channel, in the model's channel order), RGB or BGR. Presets:
  facenet   InceptionResnetV1 (facenet-pytorch): 160x160 RGB, (x - 127.5) / 128
  edgeface  EdgeFace (Idiap): 112x112 RGB, (x - 127.5) / 127.5
  arcface   ArcFace family (insightface, MobileFaceNet): 112x112 RGB, (x - 127.5) / 128
or a spec such as "size=112,mean=127.5,std=127.5,rgb" (mean/std per channel as "123.7/116.3/103.5").
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelError, OutputError
from .torch_extra import require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preprocess:
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    rgb: bool = True
    onnx_backend: str = ""  # facecluster's ONNX embedder with this preprocessing ("" = none)

    def blob(self, chips: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR chips -> (N, 3, S, S) float32 model input."""
        x = (chips[..., ::-1] if self.rgb else chips).astype(np.float32)
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def describe(self) -> str:
        def one(v):
            return "/".join(f"{x:g}" for x in v)

        return f"size={self.size},mean={one(self.mean)},std={one(self.std)},{'rgb' if self.rgb else 'bgr'}"


PRESETS = {
    "facenet": Preprocess(160, (127.5,), (128.0,), True, "arcface"),
    "edgeface": Preprocess(112, (127.5,), (127.5,), True, "edgeface"),
    "arcface": Preprocess(112, (127.5,), (128.0,), True, "arcface"),
}


def parse_preprocess(text: str) -> Preprocess:
    """A preset name or a "size=..,mean=..,std=..,rgb|bgr" spec; ConfigError saying the valid forms."""
    text = (text or "arcface").strip().lower()
    if text in PRESETS:
        return PRESETS[text]
    form = f"give a preset ({', '.join(PRESETS)}) or a spec like 'size=112,mean=127.5,std=127.5,rgb'"
    values = {"size": "112", "mean": "127.5", "std": "128", "order": "rgb"}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if part in ("rgb", "bgr"):
            values["order"] = part
        elif key in ("size", "mean", "std") and value:
            values[key] = value
        else:
            raise ConfigError(f"face embedder preprocessing {text!r}: cannot read {part!r}; {form}")
    try:
        size = int(values["size"])
        mean, std = (tuple(float(v) for v in values[k].split("/")) for k in ("mean", "std"))
    except ValueError:
        raise ConfigError(f"face embedder preprocessing {text!r}: size, mean and std must be numbers; {form}") from None
    if size < 16 or len(mean) not in (1, 3) or len(std) not in (1, 3) or min(std) <= 0:
        raise ConfigError(f"face embedder preprocessing {text!r}: size >= 16, one or three means and positive "
                          f"stds; {form}")
    spec = Preprocess(size, mean, std, values["order"] == "rgb")
    same = [n for n, p in PRESETS.items() if (p.size, p.mean, p.std, p.rgb) == (size, mean, std, spec.rgb)]
    return PRESETS[same[0]] if same else spec


def load_module(path: str | Path):
    """The network in a `.pt` (TorchScript or a whole pickled nn.Module), in eval mode on the CPU."""
    torch = require("torch", "a torch face embedder")
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 announces TorchScript's deprecation
            return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError):
        pass  # not a TorchScript archive
    try:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # Python objects beyond tensors: a whole module (unpickling runs the file's code: trusted files only)
            log.debug("%s holds Python objects: unpickling it in full", path)
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"{path} is a pickled module whose code is not importable here ({exc}); put that code on "
                         f"PYTHONPATH, or save the model as TorchScript (torch.jit.script(model).save(PATH))") from None
    except Exception as exc:
        raise ModelError(f"{path} is not a torch model file: {_line(exc)}") from None
    if isinstance(obj, dict):
        obj = next((v for k, v in obj.items() if k in ("model", "module", "net", "backbone")
                    and isinstance(v, torch.nn.Module)), obj)
    if isinstance(obj, torch.nn.Module):
        return obj.eval()
    if isinstance(obj, dict):
        raise ModelError(f"{path} holds only weights (a state dict of {len(obj)} entries), not the network: build "
                         f"the architecture in Python (EdgeFace: backbones.get_model('edgeface_xs_gamma_06') from "
                         f"github.com/otroshi/edgeface; facenet: facenet_pytorch.InceptionResnetV1()), call "
                         f"load_state_dict, then save the whole model with torch.jit.script(model).save(PATH) or "
                         f"torch.save(model, PATH)")
    raise ModelError(f"{path} holds a {type(obj).__name__}, not a torch nn.Module")


def sample_chips(size: int, n: int, seed: int = 0) -> np.ndarray:
    """Face-chip-shaped test input: smooth random images (uint8 BGR)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return np.stack([cv2.resize(s, (size, size), interpolation=cv2.INTER_CUBIC) for s in small])


@dataclass(frozen=True)
class ExportReport:
    path: Path
    preprocess: Preprocess
    dim: int
    max_difference: float   # max |onnx - torch| over the checked batches
    tolerance: float


def export_onnx(model_path: str | Path, output: str | Path, preprocess: str = "arcface", opset: int = 17,
                atol: float = 1e-4) -> ExportReport:
    """Export a torch face embedder to ONNX with a dynamic batch, then check with onnxruntime that its
    outputs match torch within `atol` (times the output scale when it exceeds 1) on batches of 1 and 3.
    Writes `output` only when the check passes; never replaces an existing file."""
    torch = require("torch", "the ONNX export")
    require("onnx", "the ONNX export")
    import onnxruntime as ort

    prep = parse_preprocess(preprocess)
    output = Path(output)
    if output.exists():
        raise OutputError(f"{output} already exists; choose another -o (existing files are never replaced)")
    if not output.parent.is_dir():
        raise OutputError(f"folder {output.parent} does not exist; create it or choose another -o")
    module = load_module(model_path)
    handle, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    os.close(handle)
    part = Path(name)
    example = torch.from_numpy(prep.blob(sample_chips(prep.size, 2)))
    try:
        with warnings.catch_warnings():
            # the TorchScript-based exporter (it announces its deprecation): it also takes TorchScript models
            # and needs only the onnx package, where the dynamo exporter needs onnxscript too
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(part), input_names=["input"], output_names=["embedding"],
                              dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
                              opset_version=opset, dynamo=False)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(part), options, providers=["CPUExecutionProvider"])
        worst, scale, dim = 0.0, 1.0, 0
        for n in (1, 3):
            blob = prep.blob(sample_chips(prep.size, n, seed=n))
            with torch.inference_mode():
                expected = _first(module(torch.from_numpy(blob))).float().numpy().reshape(n, -1)
            got = session.run(None, {"input": blob})[0].reshape(n, -1)
            if got.shape != expected.shape:
                raise ModelError(f"exported model gives shape {got.shape} for a batch of {n}, torch {expected.shape}")
            worst = max(worst, float(np.abs(got - expected).max()))
            scale, dim = max(scale, float(np.abs(expected).max())), expected.shape[1]
        if worst > atol * scale:
            raise ModelError(f"the ONNX export of {model_path} differs from torch by {worst:.3g} "
                             f"(> {atol * scale:.3g}); not written")
        part.replace(output)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot export {model_path} to ONNX: {_line(exc)}") from None
    finally:
        part.unlink(missing_ok=True)  # only our own temporary file
    return ExportReport(output, prep, dim, worst, atol * scale)


def _line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _first(out):
    """A model's embedding output (the first one when it returns several)."""
    return out[0] if isinstance(out, (tuple, list)) else out
