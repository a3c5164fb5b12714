"""Stop a run whose loss has blown up, not only one whose loss became NaN.

Rule: the first loss the run reads back (the first batch of the run; the first frozen epoch when
there is a frozen phase) is its start. Training stops when a later loss read-back (the mean of a
log window of `log_every` steps, or an epoch's mean) is above both 10 times the start and the
start plus 4. A classifier's loss at chance is about ln(classes) (0.69 for two, 2.3 for ten), and a
healthy run only goes down from its start or wobbles around it; a learning rate far too high
drives it to hundreds. The margin of 4 keeps a run that starts near 0 (a resumed, well-trained
model) from stopping on noise. NaN or infinite losses stop at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..errors import TrainingDivergedError

GROWTH_FACTOR = 10.0
ABSOLUTE_MARGIN = 4.0
FIX = ("Lower the learning rate (now {lr:g}), add warmup (the Warmup scheduler with warmup_ratio 0.1), and keep "
       "gradient clipping on (max_grad_norm 1.0). Your input model is unchanged.")


def ensure_finite(value: float, where: str, lr: float) -> None:
    if not math.isfinite(value):
        raise TrainingDivergedError(
            f"training stopped at {where}: the loss became {value}. Lower the learning rate (now {lr:g}), "
            "keep max_grad_norm at 1.0, or use precision fp32. Your input model is unchanged."
        )


@dataclass
class DivergenceGuard:
    """Holds the run's starting loss and checks each read-back against it."""

    start: Optional[float] = None

    def limit(self) -> float:
        return max(GROWTH_FACTOR * self.start, self.start + ABSOLUTE_MARGIN)

    def check(self, loss: float, where: str, lr: float) -> None:
        ensure_finite(loss, where, lr)
        if self.start is None:
            self.start = loss
            return
        if loss > self.limit():
            raise TrainingDivergedError(
                f"training stopped at {where}: the loss became {loss:.4g}, more than {GROWTH_FACTOR:g} times its "
                f"start ({self.start:.4g}), so training diverged. " + FIX.format(lr=lr)
            )
