"""Pretrained weights: verified downloads, the manifest of pinned files, the shipped models, and
reading weights files without running code from them."""
