"""Media on the server: the session recorder (aiortc) and encryption at rest."""
