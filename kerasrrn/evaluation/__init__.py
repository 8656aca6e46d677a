"""Evaluation: metrics on numpy scores (`metrics`), video-level view prediction (`views`),
report files and plots (`reports`), and per-video prediction texts (`predictions`)."""
