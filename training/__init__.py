"""Training, evaluation and export of the disocclusion infill network (PyTorch)."""
