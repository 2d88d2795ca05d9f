"""livevault: watch live streams, record them, keep playable MP4s."""

__version__ = "0.1.0"
