"""Use cases: the only code that combines adapters. Routers, CLI commands and tasks call these."""
