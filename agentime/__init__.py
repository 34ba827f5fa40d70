"""agentime."""
