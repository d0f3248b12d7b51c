"""The Python API: load a recipe, run, resume, open and evaluate runs from Python or a notebook."""

from gan_adapt.api.public import (
                                  LoadedRecipe,
                                  Run,
                                  RunResult,
                                  Translation,
                                  evaluate,
                                  load_recipe,
                                  load_run,
                                  resume,
                                  run,
)

__all__ = ["load_recipe", "run", "resume", "load_run", "evaluate", "LoadedRecipe", "Run",
           "RunResult", "Translation"]
