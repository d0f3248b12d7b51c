"""Sweeps: base recipe(s) x targets x override grids x seeds, run on an existing engine.

``gan-adapt sweep SWEEP.toml`` expands the sweep into runs (:mod:`.spec`), runs them through a
backend (:mod:`.backends`: ``local`` one after another or one per visible GPU, or ``ray``), each
in its own run folder under one sweep folder, then evaluates them and writes one comparison
table (:mod:`.table`). Every run is a separate ``gan-adapt run`` process, so a crash, a NaN or a
kill of one run never takes the others down; running a sweep again skips finished runs and
resumes interrupted ones.
"""
