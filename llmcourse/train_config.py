"""Old import path of :mod:`llmcourse.training.config` and :mod:`llmcourse.training.presets`
(training settings, presets, the learning-rate schedule); new code imports from
``llmcourse.training``.
"""

from .training.config import (COMPILE_MODES, MODEL_FIELDS, OPTIMIZERS, PRECISIONS, TrainConfig,  # noqa: F401
                              learning_rate_at, progress)
from .training.presets import PRESETS, get_preset  # noqa: F401

__all__ = ["TrainConfig", "PRESETS", "get_preset", "learning_rate_at", "progress", "OPTIMIZERS",
           "PRECISIONS", "COMPILE_MODES", "MODEL_FIELDS"]
