"""Old import path of :mod:`llmcourse.training.speed` (the trainer's speed options (precision, autocast, compile)).

``import llmcourse.train_fast`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import speed as _home

sys.modules[__name__] = _home
