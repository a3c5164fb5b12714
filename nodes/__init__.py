"""Node registry: every node class once. Its id is its class name (users' docs and saved
workflows use it); its display name comes from `modules/node_names.py`, the one table that
modules' messages also name nodes from."""

from ..modules.node_names import NODE_NAMES
from .calibration_nodes import PtCalibrateClassificationModel
from .data_check_nodes import PtDataCheck
from .data_nodes import HfTokenizerEncode, PtDataLoader, PtvHfDatasetWithTokenEncode
from .data_split_nodes import PtvTrainValidationSplit
from .eval_nodes import PtEvaluateClassificationModel, PtPlotTrainingCurves
from .io_nodes import PtExportClassificationModelOnnx, PtLoadClassificationModel, PtSaveClassificationModel
from .lora_nodes import PtnLoraAdapter
from .loss_nodes import PtnBCEWithLogitsLoss, PtnCrossEntropyLoss, PtnMSELoss
from .model_nodes import PtnHfFineTunedClassificationModel
from .optim_nodes import (PtoAdam, PtoAdamW, PtoLrSchedulerCosineAnnealing, PtoLrSchedulerReduceOnPlateau,
                          PtoLrSchedulerStep, PtoLrSchedulerWarmup, PtoSGD)
from .predict_nodes import PtClassifyTexts, PtPredictClassificationModel
from .train_nodes import PtTrainFineTuneClassificationTransformerModel, PtTrainTransformerClassificationModel

NODE_CLASSES = (
    HfTokenizerEncode, PtvHfDatasetWithTokenEncode, PtDataLoader,
    PtoAdamW, PtoAdam, PtoSGD,
    PtoLrSchedulerWarmup, PtoLrSchedulerStep, PtoLrSchedulerCosineAnnealing, PtoLrSchedulerReduceOnPlateau,
    PtnBCEWithLogitsLoss, PtnCrossEntropyLoss, PtnMSELoss,
    PtnHfFineTunedClassificationModel,
    PtTrainTransformerClassificationModel, PtTrainFineTuneClassificationTransformerModel,
    PtvTrainValidationSplit,
    PtEvaluateClassificationModel, PtPlotTrainingCurves,
    PtnLoraAdapter,
    PtPredictClassificationModel,
    PtSaveClassificationModel, PtLoadClassificationModel,
    PtClassifyTexts,
    PtDataCheck, PtCalibrateClassificationModel,
    PtExportClassificationModelOnnx,
)

NODE_CLASS_MAPPINGS = {cls.__name__: cls for cls in NODE_CLASSES}
NODE_DISPLAY_NAME_MAPPINGS = {node_id: NODE_NAMES[node_id] for node_id in NODE_CLASS_MAPPINGS}
