"""Recording: accept a request and track it (`record`), run its capture in this process under a lease
(`recorder`, `lease`, `progress`), and finish it into a verified MP4 handed to storage (`finalize`).
Split pieces live in `services.pieces`; where files go and their upload in `services.delivery`."""
