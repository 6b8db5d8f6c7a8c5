"""tarcza — a national response to online child sexual exploitation."""

__version__ = "0.1.0"
