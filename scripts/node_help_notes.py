"""Per-node text of the help pages that the node classes cannot say themselves: a short example
and the common mistakes. Everything else on a page (description, inputs, ranges, defaults,
outputs) is read from the node class by scripts/build_node_docs.py.

`dynamic` names combo inputs whose choices are read from disk when ComfyUI asks for the node's
inputs: the page describes them instead of listing what happened to be on this machine.
"""

NOTES = {
    "HfTokenizerEncode": {
        "example": "`model_name` = `distilbert-base-uncased`, `max_length` = 256, `truncation` on: reviews longer "
                   "than 256 tokens are cut. Connect `encode` to every Ptv Hf Dataset With Token Encode node "
                   "(train and validation).",
        "mistakes": [
            "A `model_name` different from the model node's: token ids then mean other words to the encoder. "
            "Use the very same hub id or folder on both nodes.",
            "`truncation` off with long texts: the dataset node stops with a message naming the longest text.",
            "`max_length` above the model's maximum (512 for BERT-style models): leave it at 0.",
        ],
    },
    "PtvHfDatasetWithTokenEncode": {
        "example": "`name` = `stanfordnlp/imdb`, `split` = `train[:2000]`, `text_field` = `text`, "
                   "`label_field` = `label`. For your own data: click *choose data file to upload* (or pick the "
                   "file in `file`) for a csv with a header row `text,label`, `split` = `train`; in ComfyUI a bare "
                   "name such as `reviews.csv` is looked up in its input folder.",
        "mistakes": [
            "Column names that do not match the file: the message lists the columns the data has.",
            "An absolute path or `../` in a ComfyUI server: refused, the pack reads only ComfyUI's folders "
            "(input, output, temp, models) unless the server's owner lists more in "
            "`HF_TEXT_FINETUNE_EXTRA_PATHS`. Upload the file instead.",
            "Labels as text for a one-output model: text labels are numbered in sorted order; with more "
            "than two names use `num_outputs` = the number of classes and Cross Entropy Loss.",
            "The same split for training and validation: validation accuracy is then meaningless. Use "
            "`test`, a slice such as `train[90%:]`, or Ptv Train Validation Split.",
        ],
    },
    "PtDataLoader": {
        "example": "Training: `batch_size` = 32, `shuffle` on. Validation: a second loader on the validation "
                   "dataset with `shuffle` off.",
        "mistakes": [
            "`shuffle` on for the validation loader: harmless for the metrics but wasted work; keep it off.",
            "Out of memory on the GPU: halve `batch_size` and set the trainer's "
            "`gradient_accumulation_steps` to 2 to keep the effective batch.",
        ],
    },
    "PtDataCheck": {
        "example": "`encode` from Hf Tokenizer Encode (the same one the dataset nodes use), `name` = "
                   "`stanfordnlp/imdb`, `split` = `train`, `validation_split` = `test`. The report says e.g. "
                   "`max_length 256 cuts 10286 texts (41.1%)` and recommends head+tail or windows.",
        "mistakes": [
            "A different `encode` from the dataset nodes': the token counts then judge another tokenizer and "
            "max_length than the ones training uses.",
            "Ignoring texts shared between the splits: validation metrics on copies of training texts are "
            "optimistic; remove them (the report counts them exactly and ignoring case and spaces).",
            "Expecting a first check of a large dataset to be instant: it counts every text's tokens once "
            "(about 20 s of CPU time for 25,000 IMDB reviews); later checks of the same data take seconds.",
        ],
    },
    "PtoAdamW": {
        "example": "`learning_rate` = 5e-5, `weight_decay` = 0.01 for fine-tuning a whole encoder; with LoRA "
                   "or a frozen encoder about 5e-4 to 1e-3.",
        "mistakes": [
            "A learning rate of 1e-3 for full fine-tuning: the loss rises or stays at chance level; the "
            "trainer's divergence guard stops the run and says so.",
        ],
    },
    "PtoAdam": {
        "example": "Same values as Pto AdamW; kept for workflows written for plain Adam.",
        "mistakes": [
            "Expecting AdamW's decoupled decay: Adam adds `weight_decay` to the gradient, so the same "
            "number regularizes differently. Prefer Pto AdamW for transformers.",
        ],
    },
    "PtoSGD": {
        "example": "`learning_rate` = 0.01, `momentum` = 0.9 for training a head alone.",
        "mistakes": [
            "AdamW's learning rate (5e-5) with SGD: training barely moves. SGD needs rates 100x larger.",
            "`nesterov` on with `momentum` 0: Nesterov momentum needs a momentum above 0.",
        ],
    },
    "PtoLrSchedulerWarmup": {
        "example": "`schedule` = `linear`, `warmup_ratio` = 0.06: the rate climbs over the first 6% of the "
                   "optimizer steps, then falls linearly to 0 at the last step.",
        "mistakes": [
            "Both `warmup_steps` and `warmup_ratio` set: `warmup_steps` wins when above 0.",
        ],
    },
    "PtoLrSchedulerStep": {
        "example": "`step_size` = 1, `gamma` = 0.5: the rate halves after every epoch.",
        "mistakes": [
            "Expecting it to step every batch: it steps once per epoch (use Pto LR Scheduler Warmup for "
            "per-step schedules).",
        ],
    },
    "PtoLrSchedulerCosineAnnealing": {
        "example": "`t_max` = 0 (the trainer's epochs), `eta_min` = 0: one half cosine over the whole run.",
        "mistakes": [
            "`t_max` smaller than the epochs: the rate rises again after `t_max` epochs.",
        ],
    },
    "PtoLrSchedulerReduceOnPlateau": {
        "example": "`factor` = 0.5, `patience` = 1: the rate halves when the validation loss did not improve "
                   "for one epoch.",
        "mistakes": [
            "No `val_loader` on the trainer: it then watches the training loss, which almost always falls.",
        ],
    },
    "PtnBCEWithLogitsLoss": {
        "example": "Binary sentiment (labels 0/1) with a model of `num_outputs` = 1. For a skewed dataset turn "
                   "`auto_pos_weight` on.",
        "mistakes": [
            "A model with `num_outputs` 2 or more for single-label classes: use Ptn Cross Entropy Loss "
            "(BCE with several outputs means multi-label).",
            "Labels other than 0/1 (e.g. 1..5 stars): the trainer refuses them and names the labels found.",
        ],
    },
    "PtnCrossEntropyLoss": {
        "example": "AG News (4 classes) with a model of `num_outputs` = 4; `class_weights` = `auto` when some "
                   "classes are rare.",
        "mistakes": [
            "`num_outputs` = 1 with Cross Entropy: one class only, the loss is always 0. Set `num_outputs` "
            "to the number of classes.",
            "`class_weights` with a different number of values than classes: refused, naming both counts.",
        ],
    },
    "PtnMSELoss": {
        "example": "GLUE STS-B (similarity scores 0-5): a model with `num_outputs` = 1, float labels, `kind` = "
                   "`mse`; `huber` when a few scores are far off (see the `sts_regression` template).",
        "mistakes": [
            "Class labels (0/1 or names) with this loss: refused; use Ptn BCE With Logits Loss or Ptn Cross "
            "Entropy Loss for classes.",
            "`num_outputs` other than 1: a regression model predicts one score.",
            "Early stopping on `val_accuracy`: regression has no accuracy; monitor `val_loss`.",
        ],
    },
    "PtnHfFineTunedClassificationModel": {
        "example": "`model_name` = `distilbert-base-uncased`, `num_outputs` = 1 (binary) or the number of "
                   "classes, `pooling` = `auto` (the model's own: `mean` for all-MiniLM-L6-v2, the last real token "
                   "of a decoder, else `cls`). A local folder works too: put it into `models/hf_text_encoders` and "
                   "pick it in `local_model`, or type its name (`my-bert`). A decoder "
                   "(`Qwen/Qwen2.5-0.5B-Instruct`, Llama, Gemma): `head` = `hf_sequence_classification` (see the "
                   "`decoder_lora_classification` template and docs/models.md).",
        "mistakes": [
            "`num_outputs` that does not fit the loss: 1 with BCE With Logits, the number of classes with "
            "Cross Entropy.",
            "`pooling` = `pooler` on a model without a pooler layer (DistilBERT): refused; use `auto`, `cls` or "
            "`mean`.",
            "A decoder with the `linear` head or `pooling` = `cls`: refused with the fix (the linear head's saved "
            "folder would get a random head in transformers.pipeline; the first token of a decoder has seen only "
            "itself).",
            "A hub id while offline: download the model once or give a local folder.",
        ],
    },
    "PtTrainTransformerClassificationModel": {
        "example": "Connect the model, the training loader, Pto AdamW, the loss and a validation loader; "
                   "`epochs` = 2. The result box on the node fills with train loss, validation loss and "
                   "accuracy per epoch.",
        "mistakes": [
            "Queueing again without changing anything: ComfyUI serves the cached result and nothing trains. "
            "Change an input or set the seed's control to `increment`.",
            "No `val_loader`: `val_accuracy` and `val_loss` are -1 and early stopping cannot work.",
            "`device` = `cuda` on a machine without a GPU: refused at queue time; `auto` picks ComfyUI's device.",
        ],
    },
    "PtTrainFineTuneClassificationTransformerModel": {
        "example": "`epochs` = 3, `freeze_pretrained_module_epochs` = 1: epoch 1 trains the head alone at "
                   "`frozen_head_learning_rate`, epochs 2-3 fine-tune everything at the optimizer's rate.",
        "mistakes": [
            "`freeze_pretrained_module_epochs` >= `epochs`: refused at queue time (nothing would fine-tune).",
            "A low `frozen_head_learning_rate` (5e-5): the head hardly learns in the frozen epochs.",
        ],
    },
    "PtvTrainValidationSplit": {
        "example": "`validation_fraction` = 0.1, `seed` = 0: 90% of the training rows train, 10% validate; "
                   "connect `val_dataset` to a loader with `shuffle` off.",
        "mistakes": [
            "Splitting the test split: keep the test split for Pt Evaluate Classification Model.",
            "A fraction that leaves one part empty on a small dataset: refused; choose a larger fraction.",
        ],
    },
    "PtEvaluateClassificationModel": {
        "example": "Connect the trained model and a dataset node on the `test` split; the node shows the "
                   "metrics and a confusion matrix.",
        "mistakes": [
            "Evaluating on the data the model was chosen on (the validation split): the numbers are optimistic.",
            "A `threshold` tuned on the test data: tune it on validation data (Pt Calibrate Classification Model "
            "does, and Evaluate then uses its threshold while `use_calibrated_threshold` is on), then report the "
            "test numbers.",
            "`precision` int8 to report a model's accuracy: it measures the quantized copy; report fp32 (or auto) "
            "and use int8 to see what a quantized deployment loses.",
        ],
    },
    "PtCalibrateClassificationModel": {
        "example": "Trainer `model` -> Calibrate (`data` = a validation loader the model did not train on, "
                   "`threshold_metric` = f1) -> Evaluate on the test split -> Save. The node shows the temperature, "
                   "the ECE before and after and a reliability diagram.",
        "mistakes": [
            "Calibrating on the training data: the model is most over-confident there and the temperature comes "
            "out wrong; use held-out validation data.",
            "Calibrating on the test split and then reporting test numbers: they are then optimistic.",
            "Training a calibrated model further: training drops the calibration (the temperature stays in the "
            "weights as a starting point); calibrate again afterwards.",
        ],
    },
    "PtPlotTrainingCurves": {
        "example": "Connect the trainer's `model` output; connect `curves` to a Preview Image or Save Image node.",
        "mistakes": [
            "An untrained model (straight from the model node): it has no history to plot.",
        ],
    },
    "PtnLoraAdapter": {
        "example": "Model node -> Ptn LoRA Adapter (`r` = 8, `alpha` = 16) -> trainer, with Pto AdamW at 5e-4.",
        "mistakes": [
            "Full fine-tuning's learning rate (5e-5): LoRA then learns very slowly.",
            "`target_modules` naming layers the encoder lacks: refused, listing the linear layers it has.",
        ],
    },
    "PtPredictClassificationModel": {
        "example": "`texts` = one review per line; `predictions` reads e.g. `positive (0.973): A wonderful film ...`.",
        "mistakes": [
            "`label_names` in the wrong order: for a one-logit model give the negative name first.",
            "Several texts on one line: every line is one text.",
            "`precision` int8 with `device` cuda or mps: int8 runs on the CPU only (refused at queue time).",
        ],
    },
    "PtClassifyTexts": {
        "example": "Binary sentiment model, three reviews in `texts`: `label` -> core Compare (`string_b` = `pos`, "
                   "mode Equal) -> Preview Any runs three times, once per review, showing true or false; "
                   "`probability` -> Preview Any shows each review's probability.",
        "mistakes": [
            "Expecting one joined string from `label`: it is a list, so a linked node runs once per text. "
            "Use `predictions` (one string) to show everything in one box.",
            "Comparing `label` with a name the model does not have: the model's names come from the training "
            "data (`label_names` replaces them), e.g. `0`/`1` for numeric labels.",
            "Multi-label models: `label` joins the kept labels with `, ` and is empty when none reaches the "
            "threshold; `class_index` and `probability` are those of the most probable label.",
        ],
    },
    "PtSaveClassificationModel": {
        "example": "`filename_prefix` = `imdb/distilbert`: the model goes to `output/imdb/distilbert_00001`; "
                   "with `save_to` = `text_classifiers` to `models/text_classifiers/imdb/distilbert_00001`.",
        "mistakes": [
            "An absolute path or `..` in `filename_prefix`: refused; pick the root with `save_to`.",
            "Expecting to resume later without `save_training_state`: the folder then loads for prediction "
            "and further training, but the optimizer starts afresh.",
        ],
    },
    "PtLoadClassificationModel": {
        "example": "Pick `output/imdb/distilbert_00001` in `saved_model`, or connect the Save node's `folder` "
                   "output to `path` to load what was just saved.",
        "mistakes": [
            "A folder saved after ComfyUI listed the choices: refresh the browser (R) to list it.",
            "A folder that is not a saved classifier (e.g. a raw Hugging Face checkpoint): load it with the "
            "model node instead.",
        ],
    },
    "PtExportClassificationModelOnnx": {
        "example": "Connect Pt Save Classification Model's `folder` output to `folder`, turn `int8` on, queue: the "
                   "folder gains `onnx/model.onnx`, `onnx/model_int8.onnx` and an ONNX section in its README.md; "
                   "Predict and Evaluate with backend auto then time both backends once and keep the faster.",
        "mistakes": [
            "onnxruntime, onnx or onnxscript not installed: the node says so at queue time; install the optional "
            "extras (`pip install onnxruntime onnx onnxscript`), or keep backend torch.",
            "A model trained on head+tail or windows: the ONNX graph reads token ids; the model card shows the "
            "code that cuts texts the same way (Predict does it for you).",
            "A damaged or half-copied `onnx/model.onnx`: export again (the node replaces the files).",
        ],
    },
}

# Combo inputs whose choices come from disk (see the module docstring): {node id: {input: text}}.
DYNAMIC_CHOICES = {
    "PtvHfDatasetWithTokenEncode": {
        "file": "the data files and save_to_disk folders found when ComfyUI lists the node (its input folder with "
                "subfolders, and its `datasets` folder where it has one), plus `(none: use name)`",
    },
    "HfTokenizerEncode": {
        "local_model": "the model folders (holding config.json) found when ComfyUI lists the node in every "
                       "`hf_text_encoders` models folder, plus `(none: use model_name)`",
    },
    "PtnHfFineTunedClassificationModel": {
        "local_model": "the model folders (holding config.json) found when ComfyUI lists the node in every "
                       "`hf_text_encoders` models folder, plus `(none: use model_name)`",
    },
    "PtLoadClassificationModel": {
        "saved_model": "the saved classifiers found when ComfyUI lists the node (output folder and every "
                       "`text_classifiers` models folder), plus `(none: use path)`",
    },
}
