"""`kgen serve`: TensorFlow Serving's REST API over exported SavedModels, in one process."""
