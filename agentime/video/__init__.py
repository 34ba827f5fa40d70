"""Video layer: open, describe, sample, ingest and follow videos; frames always carry their timestamps."""
