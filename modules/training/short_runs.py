"""A run too short to learn much: say so, and name the levers.

A user's own few hundred rows give a few dozen optimizer steps: at fine-tuning rates the
encoder barely moves and a freshly initialised head hardly at all, so validation accuracy can
stay near chance with no error anywhere. Below SHORT_RUN_STEPS the trainer's text carries a
note (also logged) naming what changes it; benchmarks/small_data.py measures the
templates' recipe on 400 rows.
"""

from __future__ import annotations

from typing import Optional

SHORT_RUN_STEPS = 100


def short_run_note(steps: int, epochs: int, batch_size: Optional[int]) -> Optional[str]:
    """The note for a run of `steps` optimizer steps in its full (unfrozen) epochs, or None when long enough."""
    if steps >= SHORT_RUN_STEPS or steps <= 0:
        return None
    batch = f" (now {batch_size})" if batch_size else ""
    return (f"note: only {steps} optimizer steps in {epochs} epoch(s): a short run learns little. Levers: more "
            f"`epochs` on the trainer, a smaller `batch_size`{batch} on the train loader, a higher `learning_rate` "
            "or `head_learning_rate` (about 1e-3 to 3e-3: the new head's own rate) on the optimizer node, and "
            "`pooling` mean for sentence-transformers models (docs/performance.md, small data).")
