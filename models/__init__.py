"""Tuning, training, calibration, evaluation, explanations, tiers and the model registry."""
