"""Speech as evidence: transcripts from subtitle files, subtitle streams or speech recognition, on the frames'
clock, indexed for search.

`segments` holds the transcript types and the timeline clean-up; `sources` reads subtitle files and streams;
`asr` runs speech recognition; `index` embeds segments for search; `answer` uses matched lines to answer.
Importing this package loads nothing heavy (no torch, no PyAV); each module imports what it needs.
"""
