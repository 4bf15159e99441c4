"""Old import path of :mod:`llmcourse.training.loop` (the training loop (Trainer, train, make_optimizer)).

``import llmcourse.train`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import loop as _home

sys.modules[__name__] = _home
