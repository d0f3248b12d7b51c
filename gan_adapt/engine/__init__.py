"""The engine: from a validated recipe to a finished run folder (the search and adapt loops)."""

from gan_adapt.engine.launch import RunFolder, read_recipe, start, start_new, target_override
from gan_adapt.engine.run_state import RunOutcome

__all__ = ["start", "read_recipe", "start_new", "target_override", "RunOutcome", "RunFolder"]
