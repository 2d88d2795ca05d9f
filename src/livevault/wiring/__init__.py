"""Settings -> adapter builders used by the composition root (`livevault.bootstrap`, which re-exports them).

`loop`: the event loop the process runs on; `adapters`: capture options, stores, runner, shared state and the
LiveKit room service built from Settings; `startup`: start-up checks and preparation (trusted hosts, webhook
targets, data directories).
"""
