"""Writing models as SavedModels (for TF Serving) and .keras archives, and loading them back."""

from kgen.export.saved_model import DEFAULT_MAX_SAMPLE_NUM
from kgen.export.saved_model import MAX_SAMPLE_NUM_LIMIT
from kgen.export.saved_model import ExportMetadata
from kgen.export.saved_model import default_export_dir
from kgen.export.saved_model import export_saved_model
from kgen.export.saved_model import load_saved_model
from kgen.export.saved_model import resolve_saved_model
from kgen.export.saved_model import saved_model_metadata
