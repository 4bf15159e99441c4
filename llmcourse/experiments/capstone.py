"""Lesson 20: how many steps a five-minute run makes on this machine, and roughly where its loss ends.

:func:`time_steps` times a few training steps of a configuration with the lesson's ``Trainer``.
:func:`expected_final_loss` reads a step count against the five-minute runs of the
``shakespeare-char`` preset measured in ``benchmarks/RESULTS.md`` (validation loss over the whole
split, fp32 and bf16, Muon + AdamW): a least-squares line of the loss against ``ln(steps)``
through those runs. It is a rough guide (seeds alone move a run by 0.005-0.015), and outside the
measured range of steps it extrapolates.

>>> round(expected_final_loss(2722), 2)
1.46
>>> expected_final_loss(4000) < expected_final_loss(2000)
True
>>> MEASURED_STEPS
(1694, 4005)
"""

from __future__ import annotations

import math

#: (steps, validation loss) of five-minute ``shakespeare-char`` runs (and runs with a shorter time
#: budget standing in for a slower machine), from ``benchmarks/RESULTS.md``.
FIVE_MINUTE_RUNS = (
    (1694, 1.4868), (2002, 1.4788), (2065, 1.4714), (2722, 1.459), (2818, 1.4601), (2798, 1.4540),
    (2681, 1.4548), (3079, 1.4466), (2795, 1.4520), (2969, 1.4524), (2909, 1.4545),
    (3576, 1.4470), (4005, 1.4420), (3594, 1.4494), (3398, 1.4475),
)
MEASURED_STEPS = (min(s for s, _ in FIVE_MINUTE_RUNS), max(s for s, _ in FIVE_MINUTE_RUNS))


def _fit() -> tuple[float, float]:
    xs = [math.log(s) for s, _ in FIVE_MINUTE_RUNS]
    ys = [loss for _, loss in FIVE_MINUTE_RUNS]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def expected_final_loss(steps: float) -> float:
    """The validation loss the measured five-minute runs suggest for a run of ``steps`` steps."""
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}.")
    intercept, slope = _fit()
    return intercept + slope * math.log(steps)


def time_steps(config, *, text: str, tokenizer, steps: int = 10, device: str = "cpu") -> float:
    """Seconds per training step of ``config`` (a ``TrainConfig`` or a preset name) on ``device``,
    from a run of ``steps + 2`` steps with the lesson's ``Trainer``; the first two steps (warm-up
    of the kernels and the evaluation at step 0) are not counted."""
    from llmcourse.training import Trainer

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    records: list[dict] = []
    Trainer(config, text=text, tokenizer=tokenizer, device=device, max_iters=steps + 2, max_time=None,
            eval_interval=10 * (steps + 2), eval_iters=1, log_interval=1, progress=False, log=None,
            callbacks=[records.append]).train()
    timed = [r for r in records if r["step"] >= 2]
    first, last = timed[0], timed[-1]
    return (last["elapsed"] - first["elapsed"]) / max(1, last["step"] - first["step"])
