"""The error a malformed query raises: what was wrong, and where (1-based column)."""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A query the user has to fix; `column` is 1-based, `text` the offending piece (may be empty)."""

    def __init__(self, message: str, column: int = 1, text: str = "") -> None:
        super().__init__(f"{message} (column {column})")
        self.message = message
        self.column = column
        self.text = text
