"""Turning the difference image into a change map: thresholds, and the evidence that any change is there."""
