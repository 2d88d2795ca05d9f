"""Watching: standing orders to record a source whenever it goes live — the watchers themselves (`watch`) and
the scheduler that checks the due ones in batches and starts their recordings (`scheduler`)."""
