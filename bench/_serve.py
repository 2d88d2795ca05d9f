"""Fallback launcher: the body of `livevault serve` (livevault.cli.main.serve) called without the typer CLI.

Used only when the `livevault serve` console command itself fails to start (the benchmark says so).
Settings come from the environment exactly as for `livevault serve`.
"""

from __future__ import annotations

from livevault.cli.main import serve

if __name__ == "__main__":
    serve(host=None, port=None)
