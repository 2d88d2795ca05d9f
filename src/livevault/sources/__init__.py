"""Sources turn what a user gave (URL, room id, user) into a live status and stream URLs. They never write files."""
