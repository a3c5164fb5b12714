"""The three ways to fine-tune that the throughput benchmarks compare, each with a stopwatch.

a. `NodePath`: this pack's nodes, run by the headless runner's executor exactly as
   ComfyUI runs them (the example workflow, its validation branch removed). The
   benchmark acts as the host: it hears every finished step through the runner's
   progress listener, and notes when the trainer asks for its first batch.
b. `HfTrainerPath`: the Hugging Face Trainer with its best CPU settings: length-grouped
   sampling (`train_sampling_strategy="group_by_length"` in transformers 5),
   `DataCollatorWithPadding`, fused AdamW, bf16 autocast where the hardware has it.
c. `ReferencePath`: the reference-style loop: a Dataset that tokenizes each review on
   every access and pads it to max_length, plain fp32 AdamW.

Every path trains a fresh copy of the same pretrained weights with lr 5e-5, weight
decay 0.01 and linear warmup over 6% of the steps, and is timed from the request for
its first batch to the end of its last optimizer step (setup such as copying the
model is excluded, as it is paid once per run, not per step).
"""

from __future__ import annotations

import copy
import csv
import math
import time
from pathlib import Path
from typing import Any, Callable, Optional

from common import ROOT, load_pack

DEFAULT_WORKFLOW = ROOT / "examples" / "workflows" / "distilbert_classification.json"
LEARNING_RATE, WEIGHT_DECAY, WARMUP = 5e-5, 0.01, 0.06


class StepClock:
    """Start: the first batch is asked for. Then one timestamp per finished optimizer step."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started: Optional[float] = None
        self.steps: list[float] = []

    def start(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def step_done(self) -> None:
        if self.started is not None:
            self.steps.append(time.perf_counter())

    def seconds(self, steps: int) -> float:
        if self.started is None or len(self.steps) < steps:
            raise RuntimeError(f"the stopwatch saw {len(self.steps)} of {steps} steps")
        return self.steps[steps - 1] - self.started


def read_csv(path: Path) -> tuple[list[str], list[int]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


# --- a: the pack's nodes ---------------------------------------------------------------------------

class NodePath:
    def __init__(self, model_dir: Path, fast_attention, precision: str, workflow: Path = DEFAULT_WORKFLOW,
                 device: str = "auto", overrides: Optional[dict] = None,
                 optimizer_settings: Optional[dict] = None) -> None:
        """fast_attention None keeps the workflow's value (the node's default); optimizer_settings
        go to the optimizer node, overrides to the trainer node."""
        load_pack()
        from hf_text_finetune.modules.data import batching as data_loader
        from hf_text_finetune.nodes.comfy_services import add_progress_listener
        from hf_text_finetune.runner.cli import node_classes
        from hf_text_finetune.runner.executor import Executor
        from hf_text_finetune.runner.workflow_format import load_workflow, to_api_prompt

        classes = node_classes()
        prompt = to_api_prompt(load_workflow(workflow), classes)
        self.trainer = next(n for n in prompt.values() if n["class_type"].startswith("PtTrain"))["inputs"]
        self.trainer.pop("val_loader", None)  # throughput of training alone
        self.loader = prompt[self.trainer["train_loader"][0]]["inputs"]
        self.dataset = prompt[self.loader["dataset"][0]]["inputs"]
        self.encode = prompt[self.dataset["encode"][0]]["inputs"]
        model = prompt[self.trainer["model"][0]]["inputs"]
        for node in (self.encode, model):
            source = node["model_name"]
            if isinstance(source, list):
                prompt[source[0]]["inputs"]["value"] = str(model_dir)
            else:
                node["model_name"] = str(model_dir)
        if fast_attention is not None:
            model["fast_attention"] = fast_attention
        prompt[self.trainer["optimizer"][0]]["inputs"].update(optimizer_settings or {})
        if "lr_scheduler" in self.trainer:  # a round trains one batch: a warm-up longer than the run is refused
            prompt[self.trainer["lr_scheduler"][0]]["inputs"].update(warmup_ratio=0.0, warmup_steps=0)
        self.trainer.update(epochs=1, precision=precision, device=device, **(overrides or {}))
        self.prompt = prompt
        self.executor = Executor(classes)
        self.clock = StepClock()
        add_progress_listener(lambda *_: self.clock.step_done())
        clock = self.clock
        for method in ("batches", "batches_of"):  # the loop asks batches_of (resumable order); start at either
            original = getattr(data_loader.TextDataLoader, method)

            def timed(loader, *args, _original=original, **kwargs):
                clock.start()
                yield from _original(loader, *args, **kwargs)

            setattr(data_loader.TextDataLoader, method, timed)

    def run(self, csv_path: Path, batch_size: int, max_length: int, seed: int) -> float:
        import torch

        self.encode["max_length"] = max_length
        self.dataset.update(name=str(csv_path), split="train")
        self.loader.update(batch_size=batch_size, seed=seed, shuffle=True, group_by_length=True)
        self.trainer["seed"] = seed
        rows = len(read_csv(csv_path)[1])
        self.clock.reset()
        self.executor.run(self.prompt)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return self.clock.seconds(math.ceil(rows / batch_size))


# --- b: the Hugging Face Trainer --------------------------------------------------------------------

def tokenized_dataset(tokenizer: Any, texts: list[str], labels: list[int], max_length: int) -> Any:
    """What a Trainer script builds: one batched tokenization, no padding, a length column."""
    import datasets

    data = datasets.Dataset.from_dict({"text": texts, "label": labels})

    def encode(batch: dict) -> dict:
        out = tokenizer(batch["text"], truncation=True, max_length=max_length)
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    return data.map(encode, batched=True, remove_columns=["text"]).rename_column("label", "labels")


class HfTrainerPath:
    def __init__(self, model_factory: Callable[[], Any], tokenizer: Any, bf16: bool, device: str = "cpu",
                 work_dir: Path = Path("/tmp/hf_trainer_bench")) -> None:
        self.model_factory, self.tokenizer, self.bf16, self.device = model_factory, tokenizer, bf16, device
        self.work_dir = work_dir
        self.clock = StepClock()

    def run_dataset(self, dataset: Any, batch_size: int, seed: int) -> float:
        import torch
        from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

        clock = self.clock
        synced = self.device.startswith("cuda")

        class Stopwatch(TrainerCallback):
            def on_step_begin(self, *_, **__):
                clock.start()

            def on_step_end(self, *_, **__):
                if synced:
                    torch.cuda.synchronize()
                clock.step_done()

        args = TrainingArguments(
            output_dir=str(self.work_dir), per_device_train_batch_size=batch_size, num_train_epochs=1,
            learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, lr_scheduler_type="linear", warmup_steps=WARMUP,
            max_grad_norm=1.0, optim="adamw_torch_fused", bf16=self.bf16, use_cpu=self.device == "cpu",
            train_sampling_strategy="group_by_length", length_column_name="length",
            dataloader_pin_memory=self.device != "cpu", logging_strategy="no", save_strategy="no", report_to="none",
            disable_tqdm=True, seed=seed)
        trainer = Trainer(model=self.model_factory(), args=args, train_dataset=dataset,
                          data_collator=DataCollatorWithPadding(self.tokenizer), callbacks=[Stopwatch()])
        clock.reset()
        trainer.train()
        return clock.seconds(math.ceil(len(dataset) / batch_size))

    def run(self, csv_path: Path, batch_size: int, max_length: int, seed: int) -> float:
        load_pack()
        from hf_text_finetune.modules.data.text_cleaning import strip_html

        texts, labels = read_csv(csv_path)
        data = tokenized_dataset(self.tokenizer, [strip_html(t) for t in texts], labels, max_length)
        return self.run_dataset(data, batch_size, seed)


def hf_sequence_classifier(model_dir: Path) -> Callable[[], Any]:
    """A fresh copy of the pretrained encoder with Hugging Face's classification head (2 labels)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=2, dtype=torch.float32,
                                                              attn_implementation="sdpa")
    return lambda: copy.deepcopy(base)


# --- c: the reference-style loop ----------------------------------------------------------------------

class ReferencePath:
    """Tokenize every review on every access, pad it to max_length, train in fp32."""

    def __init__(self, model_dir: Path) -> None:
        load_pack()
        from hf_text_finetune.modules.model.build import build_classification_model
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.base = build_classification_model(str(model_dir), 1, "cls", 0.1, fast_attention=False)
        self.clock = StepClock()

    def run(self, csv_path: Path, batch_size: int, max_length: int, seed: int) -> float:
        import torch
        from hf_text_finetune.modules.data.text_cleaning import strip_html
        from torch.utils.data import DataLoader, Dataset
        from transformers import get_linear_schedule_with_warmup

        texts, labels = read_csv(csv_path)
        tokenizer = self.tokenizer

        class Reviews(Dataset):
            def __len__(self):
                return len(texts)

            def __getitem__(self, i):
                enc = tokenizer(strip_html(texts[i]), padding="max_length", truncation=True, max_length=max_length,
                                return_tensors="pt")
                return enc["input_ids"][0], enc["attention_mask"][0], torch.tensor(float(labels[i]))

        torch.manual_seed(seed)
        model = copy.deepcopy(self.base.network).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        steps = math.ceil(len(texts) / batch_size)
        scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(WARMUP * steps), steps)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        loader = DataLoader(Reviews(), batch_size=batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        self.clock.reset()
        self.clock.start()
        for ids, mask, target in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(input_ids=ids, attention_mask=mask).squeeze(-1), target)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss.item()  # the reference prints its loss every step
            self.clock.step_done()
        return self.clock.seconds(steps)
