"""The one exception type users see as a one-line error (exit code 1) from the CLI."""


class H1FaultError(Exception):
    """A known, user-facing error: bad input, bad config, missing file, wrong checkpoint.

    The CLI prints ``error: <message>`` on one line and exits with code 1; the traceback is
    shown only with ``--debug``. Messages name the offending thing (file, key, joint, shape).
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM, with a line saying what was kept (the CLI prints it and exits 130)."""
