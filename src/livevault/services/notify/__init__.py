"""Outbound notifications: tell other systems when a watcher goes live and a recording starts, completes
(finalized and stored), fails, or a file could not be uploaded.

`emit` turns an event into one queued delivery per target, written in the same transaction as the state
change it announces; `dispatch` sends what is due — signed, in order per recording and target, retried with
backoff — from every process that runs jobs; `deliveries` lists and re-queues them for the API. There are no
command hooks: the only action is an HTTP POST to a URL that passed the source URL guard.
"""
