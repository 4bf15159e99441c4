"""Analysis helpers of the lessons: the longer measurements a lesson runs, each in a module named
by its concept, so that the lesson's cell is a short call the lesson explains in a sentence.

>>> import llmcourse.experiments
>>> llmcourse.experiments.__name__
'llmcourse.experiments'
"""
