"""Experiment tracking, read back with each tracker's own reader: TensorBoard's EventAccumulator
and Trackio's local store hold train loss, learning rate, samples/s, every validation metric,
the settings and the confusion matrix; a resumed run continues the same run with every step
once; a missing package leaves the run training with one line saying how to install it."""

from __future__ import annotations

import logging
import sys

import pytest
from helpers.checkpoints import CancelAt, Cancelled, train, use_output

from hf_text_finetune.modules.training import tracking

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

BATCHES = 6  # training batches of one epoch of the tiny pipeline (48 rows, batch 8); log_every 10 > 6


def _runs(root):
    return sorted(p for p in (root / tracking.LOGS_DIR).iterdir() if p.name != "trackio")


def _events(folder):
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    reader.Reload()
    return reader


def _steps(reader, tag):
    return [event.step for event in reader.Scalars(tag)]


def test_tensorboard_run_holds_every_number_of_the_run(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    model = train(pipelines["bert"], epochs=2, tracking="tensorboard")[0]
    (folder,) = _runs(tmp_path)
    reader = _events(folder)
    scalars = set(reader.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "train/samples_per_second", "validation/loss",
            "validation/accuracy", "epoch/train_loss", "epoch/samples_per_second"} <= scalars
    assert _steps(reader, "train/loss") == list(range(1, 2 * BATCHES + 1))  # every step
    assert _steps(reader, "train/learning_rate") == [BATCHES, 2 * BATCHES]  # each log point (epoch end here)
    validation = [(e.step, e.value) for e in reader.Scalars("validation/loss")]
    assert validation == [(m["epoch"] * BATCHES, pytest.approx(m["val_loss"], rel=1e-6)) for m in model.history]
    accuracy = [e.value for e in reader.Scalars("validation/accuracy")]
    assert accuracy == [pytest.approx(m["val_accuracy"], rel=1e-6) for m in model.history]
    (picture,) = reader.Images("validation/confusion_matrix")
    assert picture.step == 2 * BATCHES and picture.width > 100
    assert "_hparams_/session_start_info" in reader.PluginTagToContent("hparams")
    hparams = _hparams(reader)
    assert hparams["train/seed"] == 0 and hparams["train/epochs"] == 2 and hparams["batch_size"] == 8
    assert hparams["optimizer/lr"] == pytest.approx(1e-2) and hparams["optimizer/kind"] == "AdamW"


def _hparams(reader) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = reader.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.number_value if v.HasField("number_value") else v.string_value if v.HasField("string_value")
            else v.bool_value for k, v in start.hparams.items()}


def _curve(reader, tag):
    return [(event.step, event.value) for event in reader.Scalars(tag)]


def test_cancel_then_resume_latest_continues_one_run_with_every_step_once(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path, CancelAt(BATCHES + 3 + 4))  # the 4th batch of epoch 2
    with pytest.raises(Cancelled):
        train(pipelines["bert"], epochs=3, tracking="tensorboard")
    (folder,) = _runs(tmp_path)
    assert _steps(_events(folder), "train/loss") == list(range(1, BATCHES + 5))  # the stopped run's steps too
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=3, tracking="tensorboard", resume="latest")
    assert _runs(tmp_path) == [folder]
    reader = _events(folder)
    assert _steps(reader, "train/loss") == list(range(1, 3 * BATCHES + 1))
    assert _steps(reader, "validation/loss") == [BATCHES, 2 * BATCHES, 3 * BATCHES]


def test_resuming_an_earlier_checkpoint_replaces_the_steps_logged_after_it(pipelines, tmp_path, monkeypatch):
    """Continuing from epoch 1 of a finished run: TensorBoard's reader shows epochs 2 and 3 once, as relogged."""
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=3, tracking="tensorboard", keep_checkpoints=3, keep_finished_checkpoints=True)
    (folder,) = _runs(tmp_path)
    first = _curve(_events(folder), "validation/loss")
    (checkpoints,) = (tmp_path / "hf_text_finetune_checkpoints").iterdir()
    train(pipelines["bert"], epochs=3, tracking="tensorboard", resume=str(checkpoints / "epoch-0001-batch-000000"))
    assert _runs(tmp_path) == [folder]
    again = _events(folder)
    assert _steps(again, "train/loss") == list(range(1, 3 * BATCHES + 1))
    assert [step for step, _ in _curve(again, "validation/loss")] == [step for step, _ in first]
    assert [value for _, value in _curve(again, "validation/loss")] == pytest.approx([v for _, v in first], rel=1e-6)
    assert len(again.Images("validation/confusion_matrix")) == 1


def test_each_new_run_gets_its_own_folder_and_names_sort_by_start(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1, tracking="tensorboard")
    train(pipelines["bert"], epochs=1, tracking="tensorboard", seed=1)
    first, second = _runs(tmp_path)
    assert first.name < second.name and first.name[:15] <= second.name[:15]


def test_tracking_off_writes_no_logs(pipelines, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    train(pipelines["bert"], epochs=1, tracking="off")
    assert not (tmp_path / tracking.LOGS_DIR).exists()


@pytest.mark.parametrize("kind, module", [("tensorboard", "torch.utils.tensorboard"), ("trackio", "trackio")])
def test_a_missing_tracker_package_leaves_one_line_and_the_run_trains(pipelines, tmp_path, monkeypatch, caplog,
                                                                      kind, module):
    use_output(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # `import` of it now raises ImportError
    with caplog.at_level(logging.WARNING):
        model = train(pipelines["bert"], epochs=1, tracking=kind)[0]
    assert len(model.history) == 1
    lines = [r.getMessage() for r in caplog.records if "not installed" in r.getMessage()]
    assert len(lines) == 1 and f"pip install {kind}" in lines[0]
    assert not (tmp_path / tracking.LOGS_DIR).exists() or _runs(tmp_path) == []


def test_confusion_counts_match_the_evaluation_report():
    import torch

    from hf_text_finetune.modules.results.metrics import classification_report

    logits = torch.tensor([[2.0, 0.1, 0.0], [0.0, 1.0, 0.2], [0.3, 0.1, 0.9], [0.0, 2.0, 0.1], [1.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 1, 2, 2])
    counts = tracking.confusion_counts(logits.argmax(-1), labels, 3)
    assert counts.long().tolist() == classification_report(logits, labels, 0.5, ["a", "b", "c"]).confusion
    multi = torch.tensor([[3.0, -1.0], [-2.0, 1.0], [1.0, 1.0]])
    multi_labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    per_label = tracking.confusion_counts((multi > 0).long(), multi_labels, 2)
    report = classification_report(multi, multi_labels, 0.5, ["x", "y"]).confusion
    assert per_label.long().tolist() == [[tn, fp, fn, tp] for (tn, fp), (fn, tp) in report]


def test_a_log_folder_that_cannot_be_written_leaves_one_warning_and_the_run_trains(pipelines, tmp_path, monkeypatch,
                                                                                   caplog):
    use_output(monkeypatch, tmp_path)
    (tmp_path / tracking.LOGS_DIR).write_text("a file where the logs' folder should be")
    with caplog.at_level(logging.WARNING):
        model = train(pipelines["bert"], epochs=1, tracking="tensorboard")[0]
    assert len(model.history) == 1
    assert [r.getMessage() for r in caplog.records if "could not be opened" in r.getMessage()]


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_disk_that_fills_under_tensorboard_s_writer_thread_leaves_one_line_and_the_run_trains(
        pipelines, tmp_path, monkeypatch, caplog):
    from tensorboard.summary.writer.record_writer import RecordWriter

    written = []

    def full_disk(self, data):  # the event file's header and the settings fit; then the disk is full
        if len(written) >= 4:
            raise OSError(28, "No space left on device")
        written.append(data)

    use_output(monkeypatch, tmp_path)
    monkeypatch.setattr(RecordWriter, "write", full_disk)  # TensorBoard's writer thread writes through it
    with caplog.at_level(logging.WARNING):
        model = train(pipelines["bert"], epochs=2, tracking="tensorboard")[0]
    assert len(model.history) == 2
    said = [r.getMessage() for r in caplog.records if "No space left on device" in r.getMessage()]
    assert any("TensorBoard could not write its event file" in line for line in said), said
    assert any("tracking stopped" in line for line in said), said  # the next write turned tracking off
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("trainer", ["PtTrainTransformerClassificationModel",
                                     "PtTrainFineTuneClassificationTransformerModel"])
def test_the_tracking_widget_comes_last_so_saved_workflows_keep_their_order(trainer):
    from helpers.nodes import node_class

    optional = node_class(trainer).INPUT_TYPES()["optional"]
    assert list(optional)[-1] == "tracking"
    assert optional["tracking"][0] == list(tracking.TRACKING) and optional["tracking"][1]["default"] == "tensorboard"


def test_a_loaded_model_with_its_training_state_continues_its_run(pipelines, tmp_path, monkeypatch):
    from hf_text_finetune.modules.results.loading import load_classifier
    from hf_text_finetune.modules.results.saving import save_classifier

    use_output(monkeypatch, tmp_path)
    first = train(pipelines["bert"], epochs=1, tracking="tensorboard", checkpoint_every_epoch=False)[0]
    folder = save_classifier(first, tmp_path / "saved", "run", include_training_state=True).folder
    train(pipelines["bert"], epochs=2, tracking="tensorboard", checkpoint_every_epoch=False,
          model=load_classifier(folder))
    (run,) = _runs(tmp_path)
    reader = _events(run)
    assert _steps(reader, "train/loss") == list(range(1, 2 * BATCHES + 1))
    assert _steps(reader, "validation/loss") == [BATCHES, 2 * BATCHES]
