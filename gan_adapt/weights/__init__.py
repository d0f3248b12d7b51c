"""Pretrained weights: verified downloads, the manifest of pinned files, and the shipped models."""
