"""Real HTTP servers standing in for services that cannot run here (TikTok, …); see each module's docstring."""
