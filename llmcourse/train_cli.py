"""Old import path of :mod:`llmcourse.training.cli` (the train and generate commands).

``import llmcourse.train_cli`` gives that very module, so old code and patches of its names keep
working; new code imports from ``llmcourse.training``.
"""

import sys

from .training import cli as _home

sys.modules[__name__] = _home
