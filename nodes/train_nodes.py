"""Trainer nodes: fine-tune a copy of the model and report metrics per epoch."""

from __future__ import annotations

from ..modules.training.auto_batch import train_halving_batch_size
from ..modules.training.early_stopping import METRICS
from ..modules.training.loop import train_classifier
from ..modules.training.optimizers import check_learning_rate
from ..modules.training.settings import (TrainResult, TrainSettings, check_checkpoint_settings, check_epochs,
                                         check_resume_choice)
from ..modules.training.tracking import TRACKING
from . import widgets
from .comfy_services import output_directory, runtime_hooks
from .local_sources import resume_source
from .widgets import category, validation


def _common_inputs() -> dict:
    return {
        "required": {
            "model": ("PTMODEL", {"tooltip": "Classifier to fine-tune (it is copied, never changed)."}),
            "train_loader": ("PTDATALOADER", {"tooltip": "Training batches."}),
            "optimizer": ("PTOPTIMIZER", {"tooltip": "Optimizer recipe, e.g. Pto AdamW."}),
            "loss_function": ("PTLOSS", {"tooltip": "Loss, e.g. Ptn BCE With Logits Loss."}),
            "epochs": ("INT", {"default": 2, "min": 1, "max": 10_000, "tooltip": "Passes over the training data."}),
            "seed": widgets.seed("Seed for dropout and any other randomness in training; same seed, same result."),
        },
        "optional": {
            "val_loader": ("PTDATALOADER", {"tooltip": "Validation batches: loss and accuracy after every epoch."}),
            "lr_scheduler": ("PTLRSCHEDULER", {"tooltip": "Learning-rate schedule, e.g. Pto LR Scheduler Warmup."}),
            "device": widgets.device(),
            "precision": widgets.precision("auto = bf16 mixed precision where the GPU/CPU computes bf16 natively, "
                                           "fp16 on older GPUs, else fp32. Weights stay fp32."),
            "gradient_accumulation_steps": ("INT", {"default": 1, "min": 1, "max": 1024,
                                                    "tooltip": "Batches per optimizer step (larger effective batch)."}),
            "max_grad_norm": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.1,
                                        "tooltip": "Clip the gradient norm to this; 0 = no clipping."}),
        },
        "hidden": {"unique_id": "UNIQUE_ID"},
    }


def _model_selection_inputs() -> dict:
    """Early stopping and best-model options (issue 4); appended after the other optional
    widgets so saved workflows keep their widget order."""
    return {
        "early_stopping_patience": ("INT", {"default": 0, "min": 0, "max": 10_000,
                                            "tooltip": "Stop when early_stopping_metric has not improved for this "
                                                       "many epochs (needs val_loader). 0 = train every epoch."}),
        "early_stopping_metric": (list(METRICS), {"default": "val_loss",
                                                  "tooltip": "Validation metric that decides early stopping and "
                                                             "the best epoch: val_loss (lower is better) or "
                                                             "val_accuracy (higher is better)."}),
        "early_stopping_min_delta": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10.0, "step": 0.0001,
                                               "round": False,
                                               "tooltip": "Smallest change that counts as an improvement "
                                                          "(e.g. 0.001)."}),
        "restore_best_weights": ("BOOLEAN", {"default": False,
                                             "tooltip": "Return the weights of the best validation epoch instead "
                                                        "of the last (kept in memory; needs val_loader)."}),
    }


def _long_run_inputs() -> dict:
    """Checkpoints, resume and memory (issue 8); last in "optional" so saved workflows keep their order."""
    return {
        "checkpoint_every_epoch": ("BOOLEAN", {"default": True,
                                               "tooltip": "Write a checkpoint at the end of every epoch (and on "
                                                          "Cancel) to the output folder's "
                                                          "hf_text_finetune_checkpoints/<run>; resume continues "
                                                          "from it."}),
        "checkpoint_minutes": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10_000.0, "step": 1.0,
                                         "tooltip": "Also write a checkpoint every N minutes inside an epoch; "
                                                    "0 = only at epoch ends."}),
        "keep_checkpoints": ("INT", {"default": 2, "min": 1, "max": 1000,
                                     "tooltip": "Checkpoints kept per run while it trains (the newest), plus the "
                                                "best epoch's when early stopping is on; see "
                                                "keep_finished_checkpoints for what a finished run keeps."}),
        "resume": ("STRING", {"default": "off",
                              "tooltip": "off = a new run; latest = continue this workflow's newest checkpoint "
                                         "(after a Cancel or a crash, queue the same workflow again); or the path "
                                         "of a checkpoint folder (read only)."}),
        "gradient_checkpointing": ("BOOLEAN", {"default": False,
                                               "tooltip": "Recompute the encoder's activations during backward: "
                                                          "far less GPU memory, about a third slower."}),
        "auto_batch_size": ("BOOLEAN", {"default": False,
                                        "tooltip": "On out of GPU memory, halve the train loader's batch_size and "
                                                   "start the run again, down to 1 (the node shows the size that "
                                                   "fit). One process only, not under torchrun."}),
        "keep_finished_checkpoints": ("BOOLEAN", {"default": False,
                                                  "tooltip": "Off: a run that ends normally keeps only its final "
                                                             "checkpoint, and none once a Save node saved its model "
                                                             "(the node's text says what one checkpoint takes, "
                                                             "e.g. 271 MB for MiniLM-L6). On: keep the last "
                                                             "keep_checkpoints. A cancelled or failed run always "
                                                             "keeps them, to resume."}),
    }


def _tracking_inputs() -> dict:
    """Experiment tracking (issue 21); last in "optional" so saved workflows keep their order."""
    return {
        "tracking": (list(TRACKING), {"default": "tensorboard",
                                      "tooltip": "Log train loss, learning rate, samples/s, every validation metric, "
                                                 "the settings and the final confusion matrix to the output folder's "
                                                 "hf_text_finetune_logs (one run per folder, named by start time). "
                                                 "tensorboard: open with tensorboard --logdir <that folder>; trackio: "
                                                 "its trackio/ store, open with trackio show (see docs/tracking.md). "
                                                 "A resumed run continues its earlier run."}),
    }


def _check_long_run(checkpoint_minutes=None, keep_checkpoints=None, resume=None):
    return (lambda: check_checkpoint_settings(checkpoint_minutes, keep_checkpoints),
            lambda: check_resume_choice(resume_source(resume)))


class PtTrainTransformerClassificationModel:
    DESCRIPTION = ("Fine-tunes a copy of a transformer classifier. After each epoch it reports train loss, "
                   "validation loss and validation accuracy (shown on the node and as outputs).")
    CATEGORY = category("train")
    RETURN_TYPES = ("PTMODEL", "STRING", "FLOAT", "FLOAT", "FLOAT")
    RETURN_NAMES = ("model", "metrics", "val_accuracy", "val_loss", "train_loss")
    OUTPUT_TOOLTIPS = ("The fine-tuned model.", "Per-epoch metrics as text.",
                       "Validation accuracy after the last epoch (0..1; -1 without validation).",
                       "Validation loss after the last epoch (-1 without validation).",
                       "Training loss of the last epoch.")
    FUNCTION = "train"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        spec = _common_inputs()
        spec["optional"].update(_model_selection_inputs())
        spec["optional"].update(_long_run_inputs())
        spec["optional"].update(_tracking_inputs())
        return spec

    @classmethod
    def VALIDATE_INPUTS(cls, epochs=None, checkpoint_minutes=None, keep_checkpoints=None, resume=None):
        return validation(lambda: check_epochs(epochs), *_check_long_run(checkpoint_minutes, keep_checkpoints, resume))

    def train(self, model, train_loader, optimizer, loss_function, epochs, seed, val_loader=None,
              lr_scheduler=None, **settings):
        """`settings`: the other widgets (device, precision, gradient_accumulation_steps, checkpoints, ...),
        which TrainSettings holds under the same names, and ComfyUI's hidden `unique_id`. A workflow saved
        before a widget existed gets the dataclass default, which equals the widget's default."""
        hooks = runtime_hooks(settings.pop("unique_id", None))
        settings["resume"] = resume_source(settings.get("resume") or "off")
        run_settings = TrainSettings(epochs=epochs, seed=seed, checkpoint_root=output_directory(), **settings)
        result = train_halving_batch_size(
            lambda loader, once: train_classifier(model, loader, optimizer, loss_function, once, val_loader,
                                                  lr_scheduler, hooks),
            train_loader, run_settings)
        return _outputs(result)


def _outputs(result: TrainResult) -> dict:
    final = result.final
    summary = result.summary()
    return {
        "ui": {"text": [summary]},
        "result": (result.model, summary,
                   final.val_accuracy if final.val_accuracy is not None else -1.0,
                   final.val_loss if final.val_loss is not None else -1.0,
                   final.train_loss),
    }


class PtTrainFineTuneClassificationTransformerModel(PtTrainTransformerClassificationModel):
    DESCRIPTION = ("Fine-tunes like Pt Train Transformer Classification Model, with the encoder frozen for the "
                   "first freeze_pretrained_module_epochs: those epochs train only the head (fast: the encoder's "
                   "outputs are computed once), the rest fine-tune everything with the same optimizer.")

    @classmethod
    def INPUT_TYPES(cls):
        spec = _common_inputs()
        required = dict(spec["required"])
        required["freeze_pretrained_module_epochs"] = (
            "INT", {"default": 1, "min": 0, "max": 10_000,
                    "tooltip": "Epochs at the start that train only the head (must be less than epochs). "
                               "1 with epochs 4: epoch 1 head only, epochs 2-4 everything."})
        spec["required"] = required
        spec["optional"]["frozen_head_learning_rate"] = widgets.learning_rate(
            1e-3, "Head learning rate while the encoder is frozen (a head alone needs far more than 5e-5). "
                  "The optimizer's own rate applies once the encoder is unfrozen.")
        spec["optional"].update(_model_selection_inputs())
        spec["optional"].update(_long_run_inputs())
        spec["optional"].update(_tracking_inputs())
        return spec

    @classmethod
    def VALIDATE_INPUTS(cls, epochs=None, freeze_pretrained_module_epochs=None, frozen_head_learning_rate=None,
                        checkpoint_minutes=None, keep_checkpoints=None, resume=None):
        return validation(lambda: check_epochs(epochs, freeze_pretrained_module_epochs),
                          lambda: check_learning_rate(frozen_head_learning_rate),
                          *_check_long_run(checkpoint_minutes, keep_checkpoints, resume))
