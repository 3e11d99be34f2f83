"""The catalog: projects, metrics (immutable versions, groups) and systems (immutable versions)."""
