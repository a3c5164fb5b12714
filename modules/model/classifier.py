"""`TextClassifier`: the one object a classifier travels as between nodes (ComfyUI type PTMODEL).

It is the network plus everything that must travel with it: the tokenizer that reads its
texts, its label names and problem type, the max length it was trained at and how long texts
were cut or split into windows (which Predict repeats), its metrics
history, where it came from, its LoRA settings, and the state needed to resume training.
All of it is declared here; nothing is attached to the network from elsewhere.

ComfyUI caches node outputs and hands the same object to every later run, so a
classifier is never changed once a node has returned it: nodes that "change" one (train,
add LoRA, load state) return a new object (`dataclasses.replace`), sharing whatever
they did not change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Optional, Sequence

from ..data.truncation import Truncation
from ..data.windows import Windows
from ..errors import UserInputError
from ..node_names import LOAD_NODE
from .network import ClassifierNetwork

SINGLE_LABEL = "single_label_classification"  # Hugging Face's problem_type names
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"  # one raw score per text (Hugging Face's name too)


@dataclass
class TrainingState:
    """Optimizer and scheduler state after `epochs_done` epochs (tensors on the CPU), as Save
    writes it and Load reads it back. Never changed once captured, so copies of a classifier
    share it instead of duplicating it."""

    epochs_done: int
    optimizer_kind: str
    optimizer: dict
    scheduler_kind: Optional[str] = None
    scheduler: Optional[dict] = None
    freeze_pretrained_module_epochs: int = 0
    scaler: Optional[dict] = None  # fp16 gradient scaler (added later: older saved folders lack it)
    generators: Optional[dict] = None  # torch/CUDA/numpy/python random generators after the last epoch
    early_stopping: Optional[dict] = None  # best value and epoch, epochs without improvement, best weights

    def __deepcopy__(self, memo: dict) -> "TrainingState":
        return self

    def to_file_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_file_dict(cls, data: dict) -> "TrainingState":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TextClassifier:
    network: ClassifierNetwork
    model_name: str  # what the weights were loaded from: a hub id or a folder
    base_model_name: str = ""  # the pretrained model it was fine-tuned from ("" = model_name)
    tokenizer: Optional[Any] = None  # attached by training or loading; an untrained model has none
    label_names: Optional[list[str]] = None  # None: integer labels, whose ids are their names
    problem_type: Optional[str] = None  # SINGLE_LABEL, MULTI_LABEL or REGRESSION, set by training or loading
    max_length: Optional[int] = None  # the tokenizer's max_length during training
    truncation_rule: Truncation = field(default_factory=Truncation)  # how training cut long texts
    windows: Windows = field(default_factory=Windows)  # sliding windows training read texts as (size 0: none)
    lora: Optional[dict] = None  # LoRA settings once adapters wrap the encoder (lora.py)
    history: list[dict] = field(default_factory=list)  # metrics per epoch, over every run
    training_settings: dict = field(default_factory=dict)  # recipes and settings of the last run
    training_state: Optional[TrainingState] = None  # captured after training: Save can write it
    resume_state: Optional[TrainingState] = None  # set by Load: the next trainer continues from it
    text_pairs: bool = False  # reads pairs of texts (trained with a text_pair_field), set by training or loading
    checkpoint_run: Optional[str] = None  # checkpoint folder of the run that trained it; a Save node empties it
    calibration: Optional[dict] = None  # temperature (folded into the head), threshold, ECE before/after (calibration.py)

    # --- what the network says ------------------------------------------------------------------

    @property
    def num_outputs(self) -> int:
        return self.network.num_outputs

    @property
    def head_type(self) -> str:
        return self.network.head_type

    @property
    def pooling(self) -> str:
        return self.network.pooling

    @property
    def vocab_size(self) -> int:
        return self.network.vocab_size

    @property
    def base_model(self) -> str:
        return self.base_model_name or self.model_name

    # --- what its outputs mean ------------------------------------------------------------------

    @property
    def output_kind(self) -> str:
        """binary (one logit), multi_label (several sigmoid outputs), multi_class (softmax) or regression
        (one raw score)."""
        if self.problem_type == REGRESSION:
            return "regression"
        if self.num_outputs == 1:
            return "binary"
        return "multi_label" if self.problem_type == MULTI_LABEL else "multi_class"

    def output_labels(self, override: Optional[Sequence[str]] = None,
                      source: str = "label_names input") -> list[str]:
        """One name per class (two for a single-logit binary model), checked against the outputs."""
        outputs = self.num_outputs
        names = list(override) if override else self.label_names
        source = source if override else "model's label names"
        if self.problem_type == REGRESSION:
            return [str(names[0])] if names and len(names) == 1 else ["score"]
        if not names:
            return ["0", "1"] if outputs == 1 else [str(i) for i in range(outputs)]
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            raise UserInputError(f"the {source} {names} repeat a name; give each class its own name")
        if outputs == 1:
            if len(names) <= 2:
                return names if len(names) == 2 else [f"not {names[0]}", names[0]]
            raise UserInputError(
                f"the {source} {names} give {len(names)} names, but this binary model has one output: give two "
                "names, the negative class first (e.g. 'negative, positive')"
            )
        if len(names) != outputs:
            raise UserInputError(
                f"the {source} {names} give {len(names)} names, but the model has {outputs} outputs; give exactly "
                "one name per output, in output order"
            )
        return names

    @property
    def calibrated_threshold(self) -> Optional[float]:
        """The decision threshold calibration chose on validation data (binary, two-class and multi-label models)."""
        threshold = (self.calibration or {}).get("threshold")
        return float(threshold) if threshold is not None else None

    def threshold_for(self, given: Optional[float]) -> float:
        """The threshold that decides labels: `given`, or for None the model's own (calibrated, else 0.5); a node
        whose use_calibrated_threshold is on passes None."""
        if given is not None:
            return float(given)
        return self.calibrated_threshold if self.calibrated_threshold is not None else 0.5

    def require_tokenizer(self, action: str = "read text") -> None:
        if self.tokenizer is None:
            raise UserInputError(
                f"this model has no tokenizer attached, so it cannot {action}: connect the model output of a "
                f"trainer node (training attaches the tokenizer) or of the {LOAD_NODE} node, "
                "not the untrained model node's output"
            )

    def with_network(self, network: ClassifierNetwork, **changes: Any) -> "TextClassifier":
        """A new classifier around `network`; this one is left as it is."""
        return replace(self, network=network, **changes)

    def describe(self) -> str:
        """What a Load node shows: head, labels, base model, epochs trained, LoRA, resume point."""
        names = ", ".join(self.label_names[:20]) if self.label_names else "integer labels"
        names = "a score per text (regression)" if self.problem_type == REGRESSION else names
        inputs = ", reads pairs of texts (tab-separated in Predict)" if self.text_pairs else ""
        lines = [f"head: {self.head_type}, outputs: {self.num_outputs} ({names}){inputs}",
                 f"base model: {self.base_model}", f"epochs trained: {len(self.history)}"]
        if self.windows.enabled:
            lines.append(f"long texts: {self.windows.describe()}")
        elif not self.truncation_rule.is_default:
            lines.append(f"long texts: truncation {self.truncation_rule.describe()}")
        if self.lora:
            lines.append(f"LoRA adapters: r {self.lora['r']} on {', '.join(self.lora['target_modules'])}")
        if self.calibration:
            threshold = self.calibrated_threshold
            lines.append(f"calibrated: temperature {self.calibration.get('temperature')}, ECE "
                         f"{self.calibration.get('ece_before', 0):.4f} -> {self.calibration.get('ece_after', 0):.4f}"
                         + (f", threshold {threshold:.4f}" if threshold is not None else ""))
        if self.resume_state is not None:
            lines.append(f"training resumes after epoch {self.resume_state.epochs_done} with the saved "
                         "optimizer state")
        return "\n".join(lines)
