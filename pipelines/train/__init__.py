"""Training jobs: the embedded models (data, batches, model sizes, cards, the training loop), the timing policy, the UI's unsure threshold."""
