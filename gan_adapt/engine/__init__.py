"""The engine: from a validated recipe to a finished run folder (the search and adapt loops)."""

from gan_adapt.engine.launch import (RunFolder, RunResult, read_recipe, start, start_new,
                                     target_override)

__all__ = ["start", "read_recipe", "start_new", "target_override", "RunResult", "RunFolder"]
