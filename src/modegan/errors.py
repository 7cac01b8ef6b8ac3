"""The one exception type users see: a one-line message naming what is wrong and what is allowed."""


class ModeganError(Exception):
    """Bad input or a failed run. The CLI prints it as one line and exits non-zero."""


def choice_error(what: str, got: object, allowed) -> ModeganError:
    """Error for an unknown name, listing the allowed ones."""
    return ModeganError(f"unknown {what} {got!r}; allowed: {', '.join(map(str, allowed))}")
