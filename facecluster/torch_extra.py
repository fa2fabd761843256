"""The `[torch]` extra: its exact install commands, imports that fail with them, and torch devices.

pip extras cannot say `--no-deps`, and two of the torch backends' packages need it: ultralytics declares
opencv-python (a second cv2 beside opencv-contrib-python-headless, which then loses its contrib modules)
and facenet-pytorch pins torch<2.3 and numpy<2. So the extra holds torch, torchvision and the small
packages they really use (pyproject.toml), and those two are installed by name without their declared
dependencies. Measured on CPU: ultralytics 8.4.190 imports and predicts with .pt, .yaml and .onnx models
without matplotlib, psutil, polars or ultralytics-thop (they serve training and plotting).
"""

from __future__ import annotations

import importlib
import logging
import os

from .errors import DependencyError

log = logging.getLogger(__name__)

ULTRALYTICS = "ultralytics==8.4.190"
FACENET = "facenet-pytorch==2.6.0"
EXTRA = "torch torchvision onnx pyyaml requests"  # pyproject.toml's [torch] extra, spelled out
INSTALL = f"pip install {EXTRA} && pip install --no-deps {ULTRALYTICS} {FACENET}"
WHY_NO_DEPS = "a plain `pip install ultralytics` also installs opencv-python over opencv-contrib-python-headless"

_notices: set[str] = set()


def require(module: str, what: str):
    """Import `module` for `what`; a missing package is a one-line DependencyError with the commands."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or module
        raise DependencyError(f"{what} needs the Python package {missing!r}, which is not installed; install the "
                              f"torch backends with `{INSTALL}` ({WHY_NO_DEPS})") from None


def import_ultralytics():
    """ultralytics, kept offline and quiet: no usage analytics, no automatic `pip install` of missing
    requirements at run time (it would change the user's environment), no banner on every load."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    ultralytics = require("ultralytics", "the ultralytics body detector")
    try:
        from ultralytics.utils.events import events

        events.enabled = False
    except ImportError:  # older releases keep analytics elsewhere; YOLO_OFFLINE already stops them
        pass
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
    return ultralytics


def torch_device(device: str, what: str) -> str:
    """facecluster's device setting ("cpu", "cuda", "auto") -> a torch device string."""
    torch = require("torch", what)
    if device in ("", "cpu"):
        return "cpu"
    if torch.cuda.is_available():
        return "cuda:0"
    if device == "cuda":
        raise DependencyError(f"device 'cuda': torch {torch.__version__} sees no CUDA GPU for {what}; use "
                              f"--device cpu, or install a CUDA build of torch on a machine with an NVIDIA driver")
    message = "torch sees no CUDA GPU: torch models run on the CPU (device auto)"
    if message not in _notices:
        _notices.add(message)
        log.info(message)
    return "cpu"


def set_threads(threads: int) -> None:
    """torch's intra-op threads are per process: one thread per model, as the ONNX sessions, unless 0."""
    import torch

    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
