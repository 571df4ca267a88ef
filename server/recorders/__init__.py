"""Recorder processes: the HTTP service a recorder process runs (service.py),
the web process's client of it (client.py) and the processes `bimbing serve`
starts (workers.py). The media work itself is server/media (no HTTP there)."""
