"""hello_conc: a tiny demo application deployed by conc."""

__version__ = "1.0.0"
