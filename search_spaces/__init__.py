"""Search spaces and presets as YAML files, and their loader."""
from search_spaces.loader import (SearchSpace, SearchSpaceError, list_presets, list_spaces, load_preset,
                                  load_space)

__all__ = ["SearchSpace", "SearchSpaceError", "list_presets", "list_spaces", "load_preset", "load_space"]
