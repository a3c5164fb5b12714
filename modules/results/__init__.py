"""Stage 4 of the pipeline: what a trained classifier gives back: metrics, predictions, saved folders, pictures."""
