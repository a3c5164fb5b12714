"""Predict and Classify Texts nodes: label names and probabilities for new texts, as text and as typed values."""

from __future__ import annotations

from ..modules.data.batching import check_batch_size
from ..modules.host import check_device_name, resolve_device
from ..modules.precision import INFERENCE_PRECISIONS, check_inference_precision
from ..modules.results.answers import answers
from ..modules.results.backends import Runtime, check_backend
from ..modules.results.metrics import check_threshold
from ..modules.results.prediction import (check_texts, parse_label_names, predict_texts, predicted_labels,
                                          predictions_json, predictions_text, split_texts)
from . import widgets
from .comfy_services import runtime_hooks
from .widgets import category, validation

EXAMPLE_TEXTS = "A wonderful film with a moving story.\nBoring plot and wooden acting, I hated it."


class PtPredictClassificationModel:
    DESCRIPTION = ("Classifies new texts (one per line) with a trained model: label names and probabilities, as "
                   "text and as JSON. One-logit models use a sigmoid, multi-class models a softmax, multi-label "
                   "models a sigmoid per label kept above the threshold; regression models give their score. A "
                   "model trained on pairs of texts takes one pair a line, the two texts separated by a tab.")
    CATEGORY = category("model")
    RETURN_TYPES = ("STRING", "STRING", "STRING")
    RETURN_NAMES = ("predictions", "labels", "json")
    OUTPUT_TOOLTIPS = ("One line per text: predicted label (probability) or score, and the text.",
                       "The predicted label of each text, one per line (multi-label: comma-separated; regression: "
                       "the score).",
                       "JSON list: per text its label(s), score(s) and every label's probability.")
    FUNCTION = "predict"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("PTMODEL", {"tooltip": "A trained model (trainer output) or a loaded one; it carries its "
                                                 "tokenizer and label names."}),
                "texts": ("STRING", {"default": EXAMPLE_TEXTS, "multiline": True,
                                     "tooltip": "Texts to classify, one per line (empty lines are skipped). "
                                                "For a model trained on pairs of texts: one pair a line, the two "
                                                "texts separated by a tab."}),
                "threshold": widgets.threshold("Binary (one output or two classes) and multi-label models: a "
                                               "label is predicted when its probability reaches this (strictly "
                                               "between 0 and 1). Models with more classes take the most "
                                               "probable class."),
            },
            "optional": {
                "label_names": ("STRING", {"default": "",
                                           "tooltip": "Comma-separated names replacing the model's, in output "
                                                      "order (two for a one-logit binary model, negative first). "
                                                      "Empty = the names learned from the training data."}),
                "batch_size": widgets.batch_size("Texts per forward pass."),
                "device": widgets.device(),
                "strip_html_tags": ("BOOLEAN", {"default": True,
                                                "tooltip": "Remove HTML tags such as <br /> first, as the dataset "
                                                           "node does by default for training data."}),
                "precision": widgets.precision("auto = bf16/fp16 autocast where the device computes it natively "
                                               "(about 2x faster on such CPUs; probabilities within about 0.01 of "
                                               "fp32), else fp32; regression models always predict in fp32 (bf16 "
                                               "keeps only 3 digits of a score). fp32 gives exactly the fp32 "
                                               "numbers (those of transformers' pipeline). int8 (CPU only) = a "
                                               "copy with its linear layers dynamically quantized: about 1.5x "
                                               "faster where bf16 is not native; labels can differ from fp32's "
                                               "near the threshold.", INFERENCE_PRECISIONS),
                "use_calibrated_threshold": widgets.use_calibrated_threshold(),
                "backend": widgets.backend(),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, threshold=None, texts=None, batch_size=None, precision=None, device=None, backend=None):
        return validation(lambda: check_threshold(threshold), lambda: check_texts(texts),
                          lambda: check_batch_size(batch_size), lambda: check_device_name(device),
                          lambda: check_inference_precision(precision, device),
                          lambda: check_backend(backend, device, precision))

    @staticmethod
    def predictions(model, texts, threshold, label_names, batch_size, device, strip_html_tags, later_inputs):
        """Predict's and Classify Texts' shared work: the widgets added since read from `later_inputs`."""
        precision, unique_id = later_inputs.get("precision", "auto"), later_inputs.get("unique_id")
        if later_inputs.get("use_calibrated_threshold", True) and model.calibrated_threshold is not None:
            threshold = None  # the model's own: predict_texts applies it (to a two-class model too)
        runtime = Runtime(precision, later_inputs.get("backend", "auto"))
        check_texts(texts)
        target = resolve_device(device, runtime_hooks(unique_id))
        return predict_texts(model, split_texts(texts), threshold, parse_label_names(label_names), batch_size,
                             target, strip_html_tags, runtime)

    def predict(self, model, texts, threshold, label_names="", batch_size=32, device="auto", strip_html_tags=True,
                **later_inputs):
        """`later_inputs`: precision, use_calibrated_threshold and backend (widgets), unique_id (hidden)."""
        predictions = self.predictions(model, texts, threshold, label_names, batch_size, device, strip_html_tags,
                                       later_inputs)
        text = predictions_text(predictions)
        return {"ui": {"text": [text]}, "result": (text, predicted_labels(predictions), predictions_json(predictions))}


class PtClassifyTexts(PtPredictClassificationModel):
    """Predict's inputs; answers as lists, one item per text, so ComfyUI runs a linked node once per text."""

    DESCRIPTION = ("Classifies texts (one per line) and gives each text's answer as values other nodes can use: "
                   "its label (STRING), class index (INT) and the probability of that label (FLOAT), as lists "
                   "with one item per text, so a linked node (e.g. a core Compare on the label) runs once per text. "
                   "Multi-label models: the labels above the threshold joined with ', ', and the index and "
                   "probability of the most probable label. Regression models: the score as text, rounded (INT) "
                   "and as FLOAT. Also the one-line-per-text summary and the JSON of Predict.")
    RETURN_TYPES = ("STRING", "INT", "FLOAT", "STRING", "STRING")
    RETURN_NAMES = ("label", "class_index", "probability", "predictions", "json")
    OUTPUT_IS_LIST = (True, True, True, False, False)
    OUTPUT_TOOLTIPS = ("Per text: the predicted label (multi-label: the kept labels joined with ', '; regression: "
                       "the score as text).",
                       "Per text: the label's index among the model's outputs (binary: 0 = first/negative, 1 = "
                       "second/positive; multi-label: the most probable label; regression: the rounded score).",
                       "Per text: the probability of that label (multi-label: of the most probable label; "
                       "regression: the score).",
                       "One line per text: predicted label (probability) or score, and the text.",
                       "JSON list: per text its label(s), score(s) and every label's probability.")
    FUNCTION = "classify"

    def classify(self, model, texts, threshold, label_names="", batch_size=32, device="auto", strip_html_tags=True,
                 **later_inputs):
        """`later_inputs`: as Predict's."""
        predictions = self.predictions(model, texts, threshold, label_names, batch_size, device, strip_html_tags,
                                       later_inputs)
        text, per_text = predictions_text(predictions), answers(predictions)
        return {"ui": {"text": [text]},
                "result": (per_text.labels, per_text.indices, per_text.numbers, text, predictions_json(predictions))}
