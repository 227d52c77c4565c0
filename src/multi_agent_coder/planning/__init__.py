"""Planning: a track's specs (`specs/<track>/`) — the structured merge into PLAN.md, reading
and writing a track's files, and the track's history in git."""
