"""User-facing errors.

Every mistake a user can make (a bad recipe, a missing file, a corrupt checkpoint) raises a
subclass of :class:`GanAdaptError`. The CLI prints its message as one clear paragraph, with no
traceback, and exits with :attr:`GanAdaptError.exit_code`. Bugs in our own code stay ordinary
exceptions so that they keep their traceback.
"""

from __future__ import annotations

from pathlib import Path


class GanAdaptError(Exception):
    """Base class of the errors that are the user's to fix, printed without a traceback."""

    exit_code: int = 1


class RecipeError(GanAdaptError):
    """A recipe (or a ``--set`` override) is invalid; ``problems`` holds every problem found."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} problem(s){where}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class PluginError(GanAdaptError):
    """A plugin could not be loaded, or registered something invalid."""


class CheckpointError(GanAdaptError):
    """A checkpoint file is missing, unreadable, corrupt or of an unexpected architecture."""


class UnsafeFileError(CheckpointError):
    """A file asked to run code (a pickle global outside the allow-list); nothing was executed."""


class OutOfMemory(GanAdaptError):
    """A step needed more memory than the device has; the message lists the memory modes."""


class InputError(GanAdaptError):
    """A user input other than a recipe or checkpoint (an image, a folder, a path) is unusable."""


class DamagedRecordError(InputError):
    """A JSON file gan-adapt reads (a run's records, a manifest, a config) is unusable: missing,
    too large, not UTF-8, not JSON, nested too deeply or of the wrong shape."""


class WeightsUnavailableError(GanAdaptError):
    """Pretrained weights are not on disk and cannot be downloaded (offline, or the download
    failed).

    The message names the URL to download from and the exact path to place the file at.
    """

    def __init__(self, what: str, url: str | None, path: Path, reason: str = "",
                 expected: str = "") -> None:
        self.what, self.url, self.path, self.reason = what, url, Path(path), reason
        source = f"download it from {url}\n    and " if url else ""
        because = f" ({reason})" if reason else ""
        check = f"\n    It is checked against {expected}." if expected else ""
        super().__init__(
            f"Weights for {what} are not available{because}.\n"
            f"  To fix: {source}place the file at {self.path}{check}"
        )


class WeightsMismatchError(WeightsUnavailableError):
    """A weights file is not the one expected: its sha256 or size differs from the pinned or
    first-use record. The file is refused, never loaded; the message shows both hashes and sizes.
    """


class TrainingDiverged(GanAdaptError):
    """A loss or a weight became NaN/Inf; the message names the step and the term."""
