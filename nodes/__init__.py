"""Node registry: ComfyUI class names (users' docs and saved workflows use them) and display names."""

from .data_nodes import HfTokenizerEncode, PtDataLoader, PtvHfDatasetWithTokenEncode
from .data_split_nodes import PtvTrainValidationSplit
from .eval_nodes import PtEvaluateClassificationModel, PtPlotTrainingCurves
from .io_nodes import PtLoadClassificationModel, PtSaveClassificationModel
from .lora_nodes import PtnLoraAdapter
from .loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss
from .model_nodes import PtnHfFineTunedClassificationModel
from .optim_nodes import (PtoAdam, PtoAdamW, PtoLrSchedulerCosineAnnealing, PtoLrSchedulerReduceOnPlateau,
                          PtoLrSchedulerStep, PtoLrSchedulerWarmup, PtoSGD)
from .train_nodes import PtTrainFineTuneClassificationTransformerModel, PtTrainTransformerClassificationModel
from .predict_nodes import PtPredictClassificationModel

NODE_CLASS_MAPPINGS = {
    "HfTokenizerEncode": HfTokenizerEncode,
    "PtvHfDatasetWithTokenEncode": PtvHfDatasetWithTokenEncode,
    "PtDataLoader": PtDataLoader,
    "PtoAdamW": PtoAdamW,
    "PtoAdam": PtoAdam,
    "PtoSGD": PtoSGD,
    "PtoLrSchedulerWarmup": PtoLrSchedulerWarmup,
    "PtoLrSchedulerStep": PtoLrSchedulerStep,
    "PtoLrSchedulerCosineAnnealing": PtoLrSchedulerCosineAnnealing,
    "PtoLrSchedulerReduceOnPlateau": PtoLrSchedulerReduceOnPlateau,
    "PtnBCEWithLogitsLoss": PtnBCEWithLogitsLoss,
    "PtnCrossEntropyLoss": PtnCrossEntropyLoss,
    "PtnHfFineTunedClassificationModel": PtnHfFineTunedClassificationModel,
    "PtTrainTransformerClassificationModel": PtTrainTransformerClassificationModel,
    "PtTrainFineTuneClassificationTransformerModel": PtTrainFineTuneClassificationTransformerModel,
    "PtvTrainValidationSplit": PtvTrainValidationSplit,
    "PtEvaluateClassificationModel": PtEvaluateClassificationModel,
    "PtPlotTrainingCurves": PtPlotTrainingCurves,
    "PtnLoraAdapter": PtnLoraAdapter,
    "PtPredictClassificationModel": PtPredictClassificationModel,
    "PtSaveClassificationModel": PtSaveClassificationModel,
    "PtLoadClassificationModel": PtLoadClassificationModel,
}

NODE_DISPLAY_NAME_MAPPINGS = {
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
}
