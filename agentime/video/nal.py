"""Tell H.264 reference pictures from non-reference ones by reading a packet's NAL headers.

A non-reference picture (nal_ref_idc == 0) is never used to decode another picture, so a sampler that does
not need it can drop its packet before the decoder sees it. Only H.264 is read: for other codecs every packet
counts as a reference, which is always safe. This module parses bytes only; it never decodes.
"""

from __future__ import annotations

_H264_SLICE_TYPES = (1, 5)  # coded slice of a non-IDR picture, coded slice of an IDR picture


def avcc_length_size(extradata: bytes | None) -> int | None:
    """NAL length-prefix size of an AVCC (MP4-style) stream, or None for Annex B (start codes)."""
    if extradata and len(extradata) >= 7 and extradata[0] == 1:
        return (extradata[4] & 0x03) + 1
    return None


def _nal_headers_avcc(data: bytes, length_size: int):
    i = 0
    while i + length_size < len(data):
        length = int.from_bytes(data[i:i + length_size], "big")
        if length <= 0:
            return
        yield data[i + length_size]
        i += length_size + length


def _nal_headers_annexb(data: bytes):
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        yield data[i + 3]
        i = data.find(b"\x00\x00\x01", i + 3)


def is_reference_packet(data: bytes, length_size: int | None) -> bool:
    """True unless the packet's first coded slice says it is a non-reference H.264 picture."""
    headers = _nal_headers_avcc(data, length_size) if length_size else _nal_headers_annexb(data)
    for header in headers:
        if header & 0x1F in _H264_SLICE_TYPES:
            return (header >> 5) & 0x03 != 0
    return True
