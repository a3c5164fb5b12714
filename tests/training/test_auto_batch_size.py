"""auto_batch_size on the trainers: an out-of-memory error halves the training batch size and starts the
run again (accelerate's find_executable_batch_size pattern), tested with an encoder that raises
torch.OutOfMemoryError for training batches above a size."""

from __future__ import annotations

import pytest
import torch
from helpers.checkpoints import losses, train, use_output, weights
from helpers.models import same_state
from helpers.nodes import loader_node

from hf_text_finetune.modules.training.gpu_memory import DeviceOutOfMemoryError


@pytest.fixture
def fits_up_to(pipelines, monkeypatch):
    """Make the tiny encoder run out of memory on training batches of more than `rows` rows; returns
    the training batch sizes it was given."""
    encoder_class = type(pipelines["bert"].model.network.encoder)
    real_forward, sizes = encoder_class.forward, []

    def limit(rows):
        def forward(self, *args, **kwargs):
            batch = (kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).shape[0]
            if self.training:
                sizes.append(batch)
                if batch > rows:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real_forward(self, *args, **kwargs)

        monkeypatch.setattr(encoder_class, "forward", forward)
        return sizes

    yield limit
    monkeypatch.setattr(encoder_class, "forward", real_forward)


def test_auto_batch_size_halves_until_it_fits_and_trains_as_a_run_at_that_size(pipelines, fits_up_to, tmp_path,
                                                                                monkeypatch):
    pipeline = pipelines["bert"]
    use_output(monkeypatch, tmp_path)
    sizes = fits_up_to(4)
    model, text = train(pipeline, epochs=2, train_loader=loader_node(pipeline.train_data, batch_size=16),
                        auto_batch_size=True)[:2]
    assert sizes[:2] == [16, 8] and set(sizes[2:]) == {4}  # 48 rows: every batch of 4 is full
    assert "batch_size auto: 16, 8 ran out of memory; trained at batch_size 4" in text
    reference = train(pipeline, epochs=2, train_loader=loader_node(pipeline.train_data, batch_size=4))[0]
    assert same_state(weights(model), weights(reference))  # each try is a whole new run
    assert losses(model) == losses(reference)


def test_without_auto_batch_size_out_of_memory_stops_the_run(pipelines, fits_up_to, tmp_path, monkeypatch):
    use_output(monkeypatch, tmp_path)
    sizes = fits_up_to(4)
    with pytest.raises(DeviceOutOfMemoryError, match="batch_size"):
        train(pipelines["bert"], epochs=1, train_loader=loader_node(pipelines["bert"].train_data, batch_size=16))
    assert sizes == [16]


def test_auto_batch_size_gives_up_after_batch_size_1_with_the_memory_message(pipelines, fits_up_to, tmp_path,
                                                                             monkeypatch):
    use_output(monkeypatch, tmp_path)
    sizes = fits_up_to(0)
    with pytest.raises(DeviceOutOfMemoryError, match="gradient_checkpointing"):
        train(pipelines["bert"], epochs=1, train_loader=loader_node(pipelines["bert"].train_data, batch_size=8),
              auto_batch_size=True)
    assert sizes == [8, 4, 2, 1]

