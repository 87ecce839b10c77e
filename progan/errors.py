"""The one exception type for mistakes a user can make.

The CLI turns it into a one-line message and a non-zero exit, the studio into a 4xx with a JSON
message; anything else escaping is a bug, so the distinction must be a type, not a string.
"""


class ProganError(Exception):
    """A user-facing error whose message says what is allowed."""
