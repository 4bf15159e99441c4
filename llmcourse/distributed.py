"""Old import path of :mod:`llmcourse.training.distributed` (torchrun support).

``import llmcourse.distributed`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import distributed as _home

sys.modules[__name__] = _home
