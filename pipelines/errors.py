"""The data layer's user error: what ``dualtune`` reports in one line instead of a traceback."""


class DataError(ValueError):
    """Data that cannot be used (a missing or damaged .beton, an image folder without images,
    a writer option out of range), with a message naming the value and what is allowed."""


class OutputExistsError(DataError, FileExistsError):
    """The output file exists and overwriting it was not asked for."""
