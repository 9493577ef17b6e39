"""Scoring primitives, torch-free: free-text parsing, the official label matcher, the metric functions."""
