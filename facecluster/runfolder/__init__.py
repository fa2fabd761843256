"""The OUTDIR format and its only owner (file names, schema, validation, locks, atomic commits, the edits
log, checkpoints). See layout.py for the files and folder.py for the API."""

from .extraction import Extraction, ExtractionWriter, read_extraction
from .folder import ResultSet, RunFolder, StoredPeople, StoredRun
from .layout import THUMB_FOLDERS, thumbnail

__all__ = ["Extraction", "ExtractionWriter", "ResultSet", "RunFolder", "StoredPeople", "StoredRun", "THUMB_FOLDERS",
           "read_extraction", "thumbnail"]
