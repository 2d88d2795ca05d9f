"""Persistence: the schema (`tables`), engines and migrations (`session`) and the repositories.

Repositories hold all SQL, take a `Session`, never commit, and return domain dataclasses.
"""
