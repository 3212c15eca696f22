"""departures: leave X together and land on Bluesky with history, audience and coalition intact."""

__version__ = "0.1.0"
__all__ = ["__version__"]
