"""LiveKit room recordings: ask LiveKit Egress to record a room straight into livevault's bucket, follow the
egress by signed webhooks (and by polling `ListEgress` for webhooks that never came), then verify the object
Egress uploaded, make its thumbnail, and complete the recording like any other — one row, one job, the same
notifications and links. `rooms` owns all of it; the API's `/webhooks/livekit` and the room routes call it.
"""
