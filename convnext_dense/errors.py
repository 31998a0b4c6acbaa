"""Every error the toolkit raises for bad input.

The tools (``tools/*.py``, through :func:`convnext_dense.cli.common.run_cli`)
catch :class:`ConvNeXtDenseError` only and print it as one ``error:`` line
with exit code 2; anything else is a bug and keeps its traceback. Each error
also derives from the built-in exception a caller would expect (``ValueError``
for a bad value, ``FileNotFoundError`` for a missing file, ...), so code that
catches those keeps working.
"""
import pickle


class ConvNeXtDenseError(Exception):
    """Base of the toolkit's errors: bad input, reported as one line."""


class UserError(ConvNeXtDenseError):
    """Bad input to a tool (arguments, configs, files) not covered below."""


class ConfigError(ConvNeXtDenseError, ValueError):
    """A component got a config value it cannot use."""


class CheckpointFormatError(ConvNeXtDenseError, ValueError):
    """A checkpoint is not a ConvNeXt checkpoint in any known format."""


class UnsafeCheckpointError(ConvNeXtDenseError, pickle.UnpicklingError):
    """A checkpoint holds pickled objects that could run code when loaded."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or folder the user named (checkpoint, config, dataset, image)
    does not exist."""


class OutputExistsError(UserError, FileExistsError):
    """An output folder already holds something the toolkit would replace."""


class UnreadableFileError(UserError, ValueError):
    """A file the user named (checkpoint, image, label map) is empty,
    truncated, corrupt or of another kind, or is a folder."""


class DatasetError(UserError, ValueError):
    """A dataset's annotations or label maps hold values the toolkit cannot
    train or evaluate on."""


class TrainingDivergedError(ConvNeXtDenseError, FloatingPointError):
    """A training loss became NaN or infinite; training stopped before saving
    that iteration's weights."""


class CheckpointWriteError(ConvNeXtDenseError, OSError):
    """A checkpoint (or another output file) could not be written: a full
    disk, an unwritable folder, a path through a file."""


class WorkDirBusyError(UserError):
    """Another live training run holds the work dir."""


class PatchSwitchError(UserError, ValueError):
    """``CONVNEXT_DENSE_DISABLE_PATCHES`` names a patch that does not exist,
    or switches one off that this environment cannot run without."""


class ModelIndexError(UserError, ValueError):
    """The model index (``configs/metafile.yml``) is missing or malformed,
    or does not list a config."""


__all__ = [
    'ConvNeXtDenseError', 'UserError', 'ConfigError', 'CheckpointFormatError',
    'UnsafeCheckpointError', 'InputNotFoundError', 'OutputExistsError',
    'TrainingDivergedError', 'CheckpointWriteError', 'UnreadableFileError',
    'DatasetError', 'WorkDirBusyError', 'PatchSwitchError', 'ModelIndexError'
]


class OpNotProvidedError(ConvNeXtDenseError, NotImplementedError):
    """A compiled mmcv op that the toolkit's kernels do not provide was called
    under mmcv-lite."""
