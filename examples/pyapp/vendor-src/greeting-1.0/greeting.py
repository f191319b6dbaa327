"""greeting: a tiny pure-Python vendor library used by the hello_conc demo."""

__version__ = "1.0"


def greet(name):
    """Return a friendly greeting for *name*."""
    return "Hello, %s! (from greeting %s)" % (name, __version__)
