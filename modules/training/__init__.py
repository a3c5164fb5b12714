"""Stage 3 of the pipeline: recipes (optimizer, schedule, loss), fit checks, the loop and what it keeps."""
