"""Analyses that lessons run in one call: each module is named by the concept it measures.

>>> from llmcourse.experiments import softmax_scaling
>>> softmax_scaling.__name__
'llmcourse.experiments.softmax_scaling'
"""
