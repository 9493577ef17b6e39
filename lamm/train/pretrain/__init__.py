"""Supervised pre-training of the tiny presets' media encoders before the LLM sees them.

``loop`` is the one training loop (optimiser, one-cycle schedule, steps, EMA loss print, summary);
``clip`` (the ``tiny`` preset's 2D vision tower) and ``pointcloud`` (the ``tiny-3d`` encoder) only
read their targets, build their heads and say what one batch's loss is.
"""
