"""When a client slips (issue 21): the ledger's three-misses alert
(``alerts``), a violation's set path with its letters (``path``), and the
sidang TPP that decides it (``sittings``)."""
