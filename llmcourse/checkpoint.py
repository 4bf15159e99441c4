"""Old import path of :mod:`llmcourse.training.checkpoint` (atomic checkpoints).

``import llmcourse.checkpoint`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import checkpoint as _home

sys.modules[__name__] = _home
