"""Procedural image sets with known ground truth: shapes, portraits and the known transforms."""
