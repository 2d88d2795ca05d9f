"""State that API replicas share: rate-limit windows and short-lived caches, in memory or in Redis.

`base` holds the protocols and hand-off types, `memory` the embedded twins, `redis_store` the Redis adapters,
`probes` the connectivity checks `/ready` runs (Redis and the Celery broker).
"""
