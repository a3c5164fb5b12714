"""Every node of the pack: its id (saved workflows use it) and the name users see and read in docs.

The node registry (`nodes/__init__.py`) takes the display names from here, and so does
every message in `modules/` that tells a user which node to change: one table, no copies.
"""

from __future__ import annotations

NODE_NAMES = {
    "HfTokenizerEncode": "Hf Tokenizer Encode",
    "PtvHfDatasetWithTokenEncode": "Ptv Hf Dataset With Token Encode",
    "PtDataLoader": "Pt Data Loader",
    "PtoAdamW": "Pto AdamW",
    "PtoAdam": "Pto Adam",
    "PtoSGD": "Pto SGD",
    "PtoLrSchedulerWarmup": "Pto LR Scheduler Warmup",
    "PtoLrSchedulerStep": "Pto LR Scheduler Step",
    "PtoLrSchedulerCosineAnnealing": "Pto LR Scheduler Cosine Annealing",
    "PtoLrSchedulerReduceOnPlateau": "Pto LR Scheduler Reduce On Plateau",
    "PtnBCEWithLogitsLoss": "Ptn BCE With Logits Loss",
    "PtnCrossEntropyLoss": "Ptn Cross Entropy Loss",
    "PtnMSELoss": "Ptn MSE Loss",
    "PtnHfFineTunedClassificationModel": "Ptn Hf Fine Tuned Classification Model",
    "PtTrainTransformerClassificationModel": "Pt Train Transformer Classification Model",
    "PtTrainFineTuneClassificationTransformerModel": "Pt Train Fine Tune Classification Transformer Model",
    "PtvTrainValidationSplit": "Ptv Train Validation Split",
    "PtEvaluateClassificationModel": "Pt Evaluate Classification Model",
    "PtPlotTrainingCurves": "Pt Plot Training Curves",
    "PtnLoraAdapter": "Ptn LoRA Adapter",
    "PtPredictClassificationModel": "Pt Predict Classification Model",
    "PtSaveClassificationModel": "Pt Save Classification Model",
    "PtLoadClassificationModel": "Pt Load Classification Model",
    "PtClassifyTexts": "Pt Classify Texts",
    "PtDataCheck": "Pt Data Check",
    "PtCalibrateClassificationModel": "Pt Calibrate Classification Model",
    "PtExportClassificationModelOnnx": "Pt Export Classification Model ONNX",
}

TOKENIZER_NODE = NODE_NAMES["HfTokenizerEncode"]
MODEL_NODE = NODE_NAMES["PtnHfFineTunedClassificationModel"]
SPLIT_NODE = NODE_NAMES["PtvTrainValidationSplit"]
SAVE_NODE = NODE_NAMES["PtSaveClassificationModel"]
LOAD_NODE = NODE_NAMES["PtLoadClassificationModel"]
EXPORT_NODE = NODE_NAMES["PtExportClassificationModelOnnx"]
