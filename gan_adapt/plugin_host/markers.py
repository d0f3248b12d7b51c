"""The marker that makes a plugin's function an implementation of a hook."""

from __future__ import annotations

import pluggy

#: Marks a function of a plugin as an implementation of one of
#: :mod:`gan_adapt.plugin_host.hookspecs`.
hookimpl = pluggy.HookimplMarker("gan_adapt")
