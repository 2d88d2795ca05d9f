"""The `livevault` command."""
