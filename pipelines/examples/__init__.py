"""Runnable examples: the demo and a tool-calling graph with the timing gate."""
