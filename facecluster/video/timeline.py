"""Timestamps made usable: one continuous timeline across restarts, and each frame's position."""

from __future__ import annotations

import heapq
from fractions import Fraction


class Timeline:
    """Packet timestamps made continuous where they restart, e.g. .ts files joined with `cat`.

    FFmpeg's own rule (the ffmpeg tool's timestamp-discontinuity correction): a timestamp more than a
    second before the latest one, or in formats that allow discontinuities (MPEG-TS/PS) more than 10 s
    after it, starts a new segment, which is moved to continue one frame after the previous one.
    Packets are corrected before decoding, so decoded frames carry continuous timestamps."""

    def __init__(self, time_base: Fraction, frame_s: float, forward_jumps: bool, offset: int = 0):
        self.frame = max(1, round(frame_s / time_base))
        self.back = round(1.0 / time_base)
        self.forward = round(10.0 / time_base) if forward_jumps else None
        self.offset = offset
        self.latest: int | None = None
        self.jumps = 0

    def fix(self, packet) -> None:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            return
        ts += self.offset
        if self.latest is not None:
            expected = self.latest + self.frame
            if ts < self.latest - self.back or (self.forward is not None and ts > expected + self.forward):
                self.offset += expected - ts
                ts = expected
                self.jumps += 1
        self.latest = ts if self.latest is None else max(self.latest, ts)
        if self.offset:
            if packet.pts is not None:
                packet.pts += self.offset
            if packet.dts is not None:
                packet.dts += self.offset


class FrameCounter:
    """Index of each decoded frame in presentation order: the number of packets with an earlier
    timestamp. It equals a count of decoded frames, and stays right when the decoder is told to skip
    frames or a packet fails to decode. Without packet timestamps it falls back to counting frames.

    `on_packet_time(prev, cur)` sees consecutive packet timestamps in presentation order (for gaps)."""

    def __init__(self, on_packet_time=None):
        self.pending: list[int] = []
        self.next = 0
        self.by_pts = True
        self.last_pts: int | None = None
        self.on_packet_time = on_packet_time

    def push(self, pts: int | None) -> None:
        if pts is None:
            self.by_pts = False
        elif self.by_pts:
            heapq.heappush(self.pending, pts)

    def _pop(self) -> None:
        pts = heapq.heappop(self.pending)
        if self.on_packet_time is not None and self.last_pts is not None:
            self.on_packet_time(self.last_pts, pts)
        self.last_pts = pts

    def index_of(self, pts: int | None) -> int:
        if self.by_pts and pts is not None:
            while self.pending and self.pending[0] < pts:
                self._pop()
                self.next += 1
            if self.pending and self.pending[0] == pts:
                self._pop()
        index = self.next
        self.next += 1
        return index

    def resume(self, pts: int | None, next_index: int) -> None:
        """Continue after the frame at `pts`, numbered `next_index - 1` in the interrupted read."""
        while pts is not None and self.pending and self.pending[0] <= pts:
            heapq.heappop(self.pending)
        self.last_pts = pts
        self.next = next_index
