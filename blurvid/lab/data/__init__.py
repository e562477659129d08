"""Training and benchmark data: the blur synthesiser and photo sources (numpy + OpenCV only)."""
