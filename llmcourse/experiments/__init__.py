"""Named analysis helpers that lessons call in one line, one module per concept.

>>> import llmcourse.experiments
>>> llmcourse.experiments.__name__
'llmcourse.experiments'
"""
