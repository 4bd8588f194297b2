"""Siyu (私域): store communities and member commerce for retail chains."""

__version__ = "0.1.0"
