"""Old import path of :mod:`llmcourse.training.optim` (Muon and OptimizerSet).

``import llmcourse.optim`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import optim as _home

sys.modules[__name__] = _home
