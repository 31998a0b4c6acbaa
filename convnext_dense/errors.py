"""Errors the toolkit raises for bad input; the tools print them as one line."""


class ConfigError(ValueError):
    """A component got a config value it cannot use."""
