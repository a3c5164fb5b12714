"""A run of fewer than 100 optimizer steps says so on the trainer (its text; the log at INFO) and names the
levers; a long enough run, and the frozen epochs, do not count towards it."""

from __future__ import annotations

import logging

from helpers.classifiers import train_tiny

from hf_text_finetune.modules.training.short_runs import SHORT_RUN_STEPS, short_run_note


def test_the_note_names_the_steps_and_every_lever_below_the_limit_only():
    note = short_run_note(26, 2, 32)
    for lever in ("26 optimizer steps", "`epochs`", "`batch_size` (now 32)", "`learning_rate`",
                  "`head_learning_rate`", "`pooling` mean"):
        assert lever in note
    assert short_run_note(SHORT_RUN_STEPS, 2, 32) is None and short_run_note(SHORT_RUN_STEPS - 1, 2, None)


def test_a_short_training_run_carries_the_note_in_its_text_and_log(tiny_bert, reviews_csv, caplog):
    with caplog.at_level(logging.INFO):
        result = train_tiny(tiny_bert, reviews_csv, epochs=2)  # 48 rows, batch 16: 6 steps
    assert "only 6 optimizer steps in 2 epoch(s)" in result.summary()
    assert any("only 6 optimizer steps" in r.getMessage() for r in caplog.records)
