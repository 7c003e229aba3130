"""The errors a user can fix: every command reports them in one line (exit 2), before any
compute is spent, instead of a traceback.  Each names the bad value and what is allowed."""
from pipelines.errors import DataError


class UserError(Exception):
    """Base of the errors below."""


class ConfigError(UserError, ValueError):
    """A pretraining config that cannot be used (unknown key, wrong type, bad value)."""


class SearchSpaceError(UserError, ValueError):
    """A search space that cannot be used (unknown space, path or parameter)."""


class ClusterError(UserError, RuntimeError):
    """A Ray cluster that cannot be joined, or that cannot hold one trial."""


class StoreError(UserError, RuntimeError):
    """A store of records that cannot be used: the MLflow store, a campaign's state, a run's
    artifacts or a checkpoint."""


USER_ERRORS = (UserError, DataError)  # the data layer (pipelines) raises its own DataError
