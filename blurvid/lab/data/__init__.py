"""Training and benchmark data: the blur synthesizer and photo sources (numpy + OpenCV only)."""
