"""Capture engines: pull live media and append it to a spool, crash-safe."""
