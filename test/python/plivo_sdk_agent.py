"""A Plivo audio-stream agent built on Plivo's own Python stream SDK (plivo-stream-sdk), used by
sipflow's tests as a real peer: it checks every platform message with the SDK's models, echoes
the caller's audio back with playAudio, marks checkpoints, and answers DTMF with clearAudio.

Usage: plivo_sdk_agent.py [--port 0] [--checkpoint-every 10] [--max-runtime 30]

stdout protocol (one line each, everything else goes to stderr):
  LISTENING <port>           once the server is bound
  EVENT <name> <json>        progress: start, checkpoint, played, dtmf, cleared, closed
  {...}                      the JSON summary, the last line, printed exactly once on exit
The agent serves one connection: it exits after that connection closes, on SIGTERM/SIGINT,
or after --max-runtime seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
from typing import Any, Awaitable, Callable

import websockets
from pydantic import BaseModel, ValidationError
from plivo_stream import (
    ClearedAudioEvent,
    DtmfEvent,
    EventType,
    MediaEvent,
    PlayedStreamEvent,
    PlivoWebsocketStreamingHandler,
    StartEvent,
)

# The SDK parses leniently (pydantic lax mode turns "7" into 7). Re-validating the raw message
# strictly with the same models catches what the Node SDK's zod schemas would reject.
STRICT_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.START: StartEvent,
    EventType.MEDIA: MediaEvent,
    EventType.DTMF: DtmfEvent,
    EventType.PLAYED_STREAM: PlayedStreamEvent,
    EventType.CLEARED_AUDIO: ClearedAudioEvent,
}
KNOWN_EVENTS = {e.value for e in EventType}
FRAME_BYTES = {("audio/x-mulaw", 8000): 160, ("audio/x-l16", 8000): 320, ("audio/x-l16", 16000): 640}
SILENCE_BYTE = {"audio/x-mulaw": 0xFF, "audio/x-l16": 0x00}
DTMF_DIGITS = set("0123456789*#ABCD")
# Bounded memory whatever the peer sends.
MAX_ERRORS = 50
MAX_LIST = 200


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def event_line(name: str, data: dict[str, Any]) -> None:
    emit(f"EVENT {name} {json.dumps(data, separators=(',', ':'))}")


class InspectingHandler(PlivoWebsocketStreamingHandler):
    """The SDK's websockets handler, with a look at each raw message before the SDK parses it."""

    def __init__(self, agent: "EchoAgent") -> None:
        super().__init__()
        self._agent = agent

    async def _process_message(self, message: str) -> None:
        self._agent.note_raw(message)
        await super()._process_message(message)


class EchoAgent:
    """State of the one stream this agent serves; the SDK handler calls into it."""

    def __init__(self, checkpoint_every: int) -> None:
        self.checkpoint_every = checkpoint_every
        self.handler = InspectingHandler(self)
        self.start: dict[str, Any] | None = None
        self.encoding = "audio/x-mulaw"
        self.sample_rate = 8000
        self.media_frames = 0
        self.silence_frames = 0
        self.media_bytes = 0
        self.media_hash = hashlib.sha256()
        self.first_chunk: int | None = None
        self.last_chunk: int | None = None
        self.last_seq = 0
        self.play_audio_sent = 0
        self.checkpoints_sent: list[str] = []
        self.played: list[str] = []
        self.dtmf: list[str] = []
        self.cleared = 0
        self.unknown_events: list[str] = []
        self.errors: list[str] = []
        self.messages = 0
        self.connections = 0
        self._wire()

    def error(self, msg: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(msg[:500])

    def _wire(self) -> None:
        h = self.handler
        for ev in STRICT_MODELS:
            h.on_event(ev)(self._guard(self._strict_check))
        h.on_start(self._guard(self.on_start))
        h.on_media(self._guard(self.on_media))
        h.on_dtmf(self._guard(self.on_dtmf))
        h.on_played_stream(self._guard(self.on_played))
        h.on_cleared_audio(self._guard(self.on_cleared))
        h.on_error(self.on_sdk_error)

    def _guard(self, fn: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        # The SDK gathers callbacks with return_exceptions=True, so a failing callback would
        # vanish silently; record it instead.
        async def wrapped(ev: Any) -> None:
            try:
                await fn(ev)
            except Exception as e:  # noqa: BLE001
                self.error(f"callback {fn.__name__} raised {type(e).__name__}: {e}")
        wrapped.__name__ = fn.__name__
        return wrapped

    async def _strict_check(self, ev: Any) -> None:
        model = STRICT_MODELS[ev.event]
        data = ev.data
        try:
            model.model_validate(data, strict=True)
        except ValidationError as e:
            self.error(f"strict {ev.event.value} (seq {data.get('sequenceNumber')!r}): {e.errors(include_url=False)}")
        # Counters every platform message carries, checked in arrival order.
        seq = data.get("sequenceNumber")
        if isinstance(seq, int):
            if seq != self.last_seq + 1:
                self.error(f"sequenceNumber {seq} after {self.last_seq}")
            self.last_seq = seq
        if ev.event != EventType.START:
            sid = data.get("streamId")
            if self.start is None:
                self.error(f"{ev.event.value} before start")
            elif sid != self.start["streamId"]:
                self.error(f"{ev.event.value} streamId {sid!r} differs from start's")

    async def on_sdk_error(self, err: Exception) -> None:
        self.error(f"sdk: {type(err).__name__}: {err}")

    async def on_start(self, ev: StartEvent) -> None:
        if self.start is not None:
            self.error("second start message")
        s = ev.start
        self.start = {
            "callId": s.call_id, "streamId": s.stream_id, "accountId": s.account_id, "tracks": s.tracks,
            "mediaFormat": {"encoding": s.media_format.encoding, "sampleRate": s.media_format.sample_rate},
            "extra_headers": ev.extra_headers, "sequenceNumber": ev.sequence_number,
        }
        self.encoding = s.media_format.encoding
        self.sample_rate = s.media_format.sample_rate
        if (self.encoding, self.sample_rate) not in FRAME_BYTES:
            self.error(f"unsupported mediaFormat {self.encoding}@{self.sample_rate}")
        if self.messages != 1:
            self.error(f"start was message #{self.messages}, not the first")
        if self.handler.get_stream_id() != s.stream_id or self.handler.get_call_id() != s.call_id:
            self.error("SDK did not record the start's streamId/callId")
        event_line("start", self.start)

    async def on_media(self, ev: MediaEvent) -> None:
        m = ev.media
        raw = ev.get_raw_media() if ev.get_raw_media else b""
        if m.track != "inbound":
            self.error(f"media track {m.track!r} on a bidirectional stream")
        if self.first_chunk is None:
            self.first_chunk = m.chunk
        elif self.last_chunk is not None and m.chunk != self.last_chunk + 1:
            self.error(f"media chunk {m.chunk} after {self.last_chunk}")
        self.last_chunk = m.chunk
        if not m.timestamp.isdigit():
            self.error(f"media timestamp {m.timestamp!r} is not a string of digits")
        expected = FRAME_BYTES.get((self.encoding, self.sample_rate))
        if expected is not None and len(raw) != expected:
            self.error(f"media chunk {m.chunk}: {len(raw)} bytes, expected {expected} (20 ms)")
        # Exact digital silence is what the platform sends while the caller sends no audio; the
        # test's caller never sends it, so it is counted apart and not echoed.
        if raw and raw == bytes([SILENCE_BYTE[self.encoding]]) * len(raw):
            self.silence_frames += 1
            return
        self.media_frames += 1
        self.media_bytes += len(raw)
        self.media_hash.update(raw)
        await self.handler.send_media(raw, content_type=self.encoding, sample_rate=self.sample_rate)
        self.play_audio_sent += 1
        if self.checkpoint_every > 0 and self.media_frames % self.checkpoint_every == 0:
            name = f"cp-{self.media_frames}"
            await self.handler.send_checkpoint(name)
            if len(self.checkpoints_sent) < MAX_LIST:
                self.checkpoints_sent.append(name)
            event_line("checkpoint", {"name": name})

    async def on_dtmf(self, ev: DtmfEvent) -> None:
        d = ev.dtmf.digit
        if len(self.dtmf) < MAX_LIST:
            self.dtmf.append(d)
        if d not in DTMF_DIGITS:
            self.error(f"dtmf digit {d!r} outside 0-9*#A-D")
        if not ev.dtmf.timestamp.isdigit():
            self.error(f"dtmf timestamp {ev.dtmf.timestamp!r} is not a string of digits")
        event_line("dtmf", {"digit": d})
        await self.handler.send_clear_audio()

    async def on_played(self, ev: PlayedStreamEvent) -> None:
        if len(self.played) < MAX_LIST:
            self.played.append(ev.name)
        event_line("played", {"name": ev.name})

    async def on_cleared(self, _ev: ClearedAudioEvent) -> None:
        self.cleared += 1
        event_line("cleared", {"count": self.cleared})

    def note_raw(self, message: Any) -> None:
        """Counts messages and notes events the SDK does not model, before the SDK sees them."""
        self.messages += 1
        if isinstance(message, bytes):
            self.error("binary frame from the platform")
            return
        try:
            ev = json.loads(message).get("event")
        except (ValueError, AttributeError):
            return
        if ev is not None and ev not in KNOWN_EVENTS and len(self.unknown_events) < MAX_LIST:
            self.unknown_events.append(str(ev))

    def summary(self) -> dict[str, Any]:
        # The SDK reports events it does not model (stop) through on_error; they are listed
        # separately so `errors` means "the SDK or a strict check rejected something".
        errors = [e for e in self.errors if not e.startswith("sdk: ValueError: Unknown event type")]
        return {
            "start": self.start, "messages": self.messages, "connections": self.connections,
            "media_frames": self.media_frames, "silence_frames": self.silence_frames, "media_bytes": self.media_bytes,
            "media_sha256": self.media_hash.hexdigest(), "first_chunk": self.first_chunk,
            "last_chunk": self.last_chunk, "last_sequence_number": self.last_seq,
            "play_audio_sent": self.play_audio_sent, "checkpoints_sent": self.checkpoints_sent,
            "dtmf": self.dtmf, "played": self.played, "cleared": self.cleared,
            "unknown_events": self.unknown_events, "errors": errors,
        }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=10, help="media frames between checkpoints (0: none)")
    ap.add_argument("--max-runtime", type=float, default=30.0, help="seconds before the agent gives up")
    args = ap.parse_args()

    agent = EchoAgent(args.checkpoint_every)
    done = asyncio.Event()
    exit_reason = "max_runtime"

    async def on_connection(ws: Any) -> None:
        nonlocal exit_reason
        agent.connections += 1
        if agent.connections > 1:
            agent.error("a second connection was attempted; refused")
            await ws.close(1013, "one stream per agent")
            return
        try:
            await agent.handler.handle(ws)
        finally:
            code = ws.close_code
            event_line("closed", {"code": code, "reason": ws.close_reason})
            exit_reason = "connection_closed"
            done.set()

    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        nonlocal exit_reason
        exit_reason = "signal"
        done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)

    # max_size mirrors Plivo's 64 KB message limit; compression off, as the media pod sends it.
    async with websockets.serve(on_connection, "127.0.0.1", args.port, max_size=65536, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit(f"LISTENING {port}")
        try:
            await asyncio.wait_for(done.wait(), timeout=args.max_runtime)
        except asyncio.TimeoutError:
            agent.error(f"max runtime {args.max_runtime}s reached")
        server.close()
    summary = agent.summary()
    summary["exit"] = exit_reason
    emit(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
