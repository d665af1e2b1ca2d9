"""The one exception type a user should ever see: a one-line reason, no traceback."""


class UserError(Exception):
    """A problem the user can act on (bad input, missing credentials, no network).

    The CLI prints ``error: <message>`` and exits non-zero; anything else is a bug and keeps
    its traceback.
    """
