"""The one exception type a user should ever see: a one-line reason, no traceback."""


class UserError(Exception):
    """A problem the user can act on (bad input, missing credentials, no network).

    The CLI prints ``error: <message>`` and exits non-zero; anything else is a bug and keeps
    its traceback.
    """


class NoNetwork(UserError):
    """A download could not reach its server: the offline routes are worth naming."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (TensorFlow's run to pages), for a one-line report."""
    text = getattr(error, "message", "") or str(error) or type(error).__name__
    return text.strip().splitlines()[0]
