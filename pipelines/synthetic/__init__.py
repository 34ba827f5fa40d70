"""The synthetic long-video world: its generator, its questions, the benchmark and TicToc data made from it."""
