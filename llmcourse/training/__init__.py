"""Training a GPT (lesson 20): one module per concept.

=================  ==========================================================================
module             holds
=================  ==========================================================================
``config``         ``TrainConfig`` (the model's ``GPTConfig`` and the run's settings), the schedule
``presets``        named settings: ``shakespeare-char`` (5 minutes on a CPU), ``tiny``, ...
``loop``           ``Trainer``: batches, AdamW or Muon, evaluation, checkpoints, callbacks
``optim``          ``Muon`` and ``OptimizerSet``
``speed``          precision (bf16/fp16 autocast), ``torch.compile``, memory reuse
``checkpoint``     atomic checkpoints with the random-number state, for exact resumes
``distributed``    ``torchrun``: one process per device, gradients averaged
``cli``            ``python -m llmcourse train`` and ``python -m llmcourse generate``
=================  ==========================================================================

>>> from llmcourse.training import Trainer, get_preset
>>> get_preset("tiny").model.n_layer
2
"""

from .config import TrainConfig, learning_rate_at, progress
from .loop import Trainer, TrainResult, make_optimizer, train
from .presets import PRESETS, get_preset

__all__ = ["Trainer", "TrainResult", "TrainConfig", "PRESETS", "get_preset", "train", "make_optimizer",
           "learning_rate_at", "progress"]
