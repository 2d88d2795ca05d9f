"""Downloads of finished videos (batch jobs of up to 100 URLs): fetching them through a strategy (`videos`)
and who runs a batch, with its claim, heartbeat and recovery (`batches`)."""
