"""The package version, as a constant: reading it from the installed metadata (importlib.metadata)
costs tens of milliseconds at start-up. tests/test_startup.py holds it equal to pyproject.toml's."""

__version__ = "0.1.0"
