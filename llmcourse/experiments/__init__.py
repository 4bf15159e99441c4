"""Analyses that lessons run in one call, one module per concept they measure: a lesson explains
what its helper computes in a sentence and shows the result, so its cells stay short.

>>> from llmcourse.experiments import softmax_scaling
>>> softmax_scaling.__name__
'llmcourse.experiments.softmax_scaling'
"""
