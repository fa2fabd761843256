"""facecluster: who is in this video? Groups the people who appear in a video."""

__version__ = "0.1.0"

from .config import Config, build_config  # noqa: E402
from .errors import FaceclusterError  # noqa: E402


def run(video, config=None, output_dir=None, hook=None, library=None):
    """Run the pipeline on a video; see facecluster.pipeline.run."""
    from .pipeline import run as _run

    return _run(video, config=config, output_dir=output_dir, hook=hook, library=library)


__all__ = ["Config", "FaceclusterError", "build_config", "run", "__version__"]
