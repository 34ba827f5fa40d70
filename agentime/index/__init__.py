"""Frame embedding index: which moments of a video look like a text query."""
