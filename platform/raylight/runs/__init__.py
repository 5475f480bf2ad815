"""What a run leaves on disk: checkpoints, run records, metrics history and provenance.

Training writes these files; serving, tuning, jobs and the CLI read them. This package sits
below all of them and imports neither Ray Train nor the training driver, so a Serve replica
reads a checkpoint without loading the code that trained it.
"""
