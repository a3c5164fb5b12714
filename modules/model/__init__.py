"""Stage 2 of the pipeline: the classifier network (two heads, one interface), building it from a
pretrained encoder, LoRA adapters, and `TextClassifier`, the object a trained model travels as."""
