"""The default plugin that adds the quality benchmark's built-in transforms (kind ``transform``)
with their splits (the ``eval``, ``compare`` and ``report`` commands register in
:mod:`gan_adapt.cli.plugin`).

Importing it is cheap; the transforms import torch when they run.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.plugin_host.markers import hookimpl


@hookimpl
def register_transforms(register: Any) -> None:
    """The tune split (:mod:`gan_adapt.synthetic_data.known_transforms`) and the test split
    (:mod:`gan_adapt.synthetic_data.test_split_transforms`), captioned as the benchmark gives them
    to text recipes."""
    for name, caption in TUNE_CAPTIONS.items():
        register(name, _Lazy("gan_adapt.synthetic_data.known_transforms", name, "tune"),
                 f"{caption} of a face", split="tune")
    for name, caption in TEST_CAPTIONS.items():
        register(name, _Lazy("gan_adapt.synthetic_data.test_split_transforms", name, "test"),
                 f"{caption} of a face", split="test")


#: The tune transforms' domain phrases (as gan_adapt.synthetic_data.portraits.DOMAINS words them;
#: repeated here so that loading the plugin imports no torch; a test checks they agree).
TUNE_CAPTIONS = {"sketch": "a pencil sketch", "posterise": "a posterised print",
                 "invert": "a colour negative", "watercolour": "a watercolour painting",
                 "hatch": "a hatched ink drawing"}
#: The test transforms' phrases (test_split_transforms.TEST_CAPTIONS; a test checks).
TEST_CAPTIONS = {"grade": "a colour-graded film still", "pixelart": "a pixel-art sprite",
                 "relief": "an embossed bronze relief", "lineart": "a clean line drawing",
                 "canvas": "an oil painting on canvas"}


class _Lazy:
    """A transform function imported on first call (the module imports torch)."""

    def __init__(self, module: str, name: str, split: str) -> None:
        self.module, self.name = module, name
        self.__doc__ = f"{split} split: {module}.{name}"

    def __call__(self, images: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(self.module), self.name)(images)
