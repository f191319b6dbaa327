"""Command-line entry point for hello_conc (console script ``hello-conc``)."""

import argparse
import platform
import sys

from hello_conc import __version__


def _check():
    """Verify that the application and its vendor dependency import.

    Returns a process exit code: 0 on success, 1 on failure.
    """
    try:
        import greeting  # vendor library, installed with `setup.py install`
    except ImportError as exc:
        print("hello-conc check FAILED: cannot import greeting: %s" % exc,
              file=sys.stderr)
        return 1
    message = greeting.greet("check")
    if not isinstance(message, str) or "check" not in message:
        print("hello-conc check FAILED: greeting.greet returned %r" % (message,),
              file=sys.stderr)
        return 1
    print("hello-conc %s check ok (greeting %s, python %s, prefix %s)"
          % (__version__, getattr(greeting, "__version__", "?"),
             platform.python_version(), sys.prefix))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="hello-conc",
        description="Demo application for conc: prints a greeting.")
    parser.add_argument("--check", action="store_true",
                        help="verify imports and exit 0 (for node tests)")
    parser.add_argument("--version", action="version",
                        version="hello-conc %s" % __version__)
    args = parser.parse_args(argv)

    if args.check:
        return _check()

    import greeting

    print(greeting.greet("conc"))
    print("hello-conc version: %s" % __version__)
    print("greeting version:   %s" % getattr(greeting, "__version__", "?"))
    print("python:             %s" % platform.python_version())
    print("sys.prefix:         %s" % sys.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
