"""Training and exam registration system of a professional association."""

__version__ = "0.1.0"
