"""Named experiments that lessons run in one call: each module trains or measures one thing and
returns plain numbers for the lesson to print and plot.

>>> from llmcourse.experiments.depth_sweep import summarise
>>> summarise({1: {"params": 10, "val": [2.0, 2.2], "curves": [], "seconds": 0.5}})[0]
'L = 1:      10 parameters, validation loss 2.100 (range 2.000-2.200 over 2 runs), 0.5 s per run'
"""
