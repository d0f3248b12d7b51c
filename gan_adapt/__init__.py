"""gan-adapt: one-shot, few-shot and text-guided domain adaptation of pretrained GANs.

Importing this package is cheap: it imports neither torch nor any plugin. Plugins are loaded
by :func:`gan_adapt.plugins.load_plugins` (the CLI does it lazily).
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marks a function of a plugin as an implementation of one of :mod:`gan_adapt.hookspecs`.
hookimpl = pluggy.HookimplMarker("gan_adapt")

__all__ = ["__version__", "hookimpl"]
