"""Stage 1 of the pipeline: where texts come from, how they become token ids, labels, splits and batches."""
