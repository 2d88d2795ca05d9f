"""Pushed streams: your own streaming server announces them by signed webhook (`webhooks`), or writes them
into a bucket that livevault reads and polls for streams nobody announced (`bucket`)."""
