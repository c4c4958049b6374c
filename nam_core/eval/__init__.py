"""Evaluation: the project's own digit classifiers, translated-digit accuracy, FID/PRD, latency."""
