"""Files on disk: atomic writes, images in and out, and paths that stay inside their folder."""
