"""Pure data and rules shared by every layer: no I/O here."""
