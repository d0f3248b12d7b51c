"""Generic loss and search terms shipped as a default plugin (``gan_adapt.losses.plugin``).

Each term is a class with a pydantic ``Params`` model, built as ``Term(params, ctx)`` and called
as ``term(step) -> scalar`` (see :class:`gan_adapt.plugin_host.context.Step`).
"""
