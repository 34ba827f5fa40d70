"""Speech as evidence: transcripts from subtitle files, subtitle streams or speech recognition, on the frames'
clock, indexed for search.

`settings` is the configuration section; `segments` holds the transcript types and the timeline clean-up;
`sources` reads subtitle files and streams; `asr` runs speech recognition (and `transcription_api` serves it);
`transcript` picks the first source that works; `index` embeds segments for search; `prepare` is the agent's
step that loads and indexes; `search` turns matches into candidates and prompt lines; `answer` answers from
them.
Importing this package loads nothing heavy (no torch, no PyAV); each module imports what it needs.
"""
