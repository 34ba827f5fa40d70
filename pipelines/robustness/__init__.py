"""The chaos run: hostile inputs, attacks on the server and UI, fuzzing of the video layer."""
