"""A minimal Pipecat bot on Plivo's stream protocol, used by sipflow's tests as a real peer: it
detects Plivo the way Pipecat's development runner does (parse_telephony_websocket on the first
text frames), runs PlivoFrameSerializer over a FastAPI WebSocket transport, echoes the caller's
audio back (InputAudioRawFrame -> OutputAudioRawFrame), records DTMF and answers a keypress with
an interruption (which Pipecat sends as clearAudio); with --end-on-digit, that key instead ends
the bot the way a Pipecat bot hangs up (EndWorkerFrame: flush, then close the WebSocket).
No external services.

Usage: pipecat_echo_agent.py [--port 0] [--max-runtime 30] [--end-on-digit D]
The WebSocket is served on ws://127.0.0.1:<port>/ws.

stdout protocol (one line each; Pipecat's and uvicorn's logs go to stderr):
  LISTENING <port>           once the server accepts connections
  EVENT <name> <json>        progress: detected, first_audio, dtmf, clear_audio, ending, disconnected
  {...}                      the JSON summary, the last line, printed exactly once on exit
The agent serves one connection: it exits after that connection's pipeline ends, on
SIGTERM/SIGINT, or after --max-runtime seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import sys
from typing import Any

from fastapi import FastAPI, WebSocket
from loguru import logger
import uvicorn

from pipecat.frames.frames import EndWorkerFrame, Frame, InputAudioRawFrame, InputDTMFFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.plivo import PlivoFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

PIPELINE_RATE = 8000  # Plivo's rate: the serializer then neither up- nor down-samples.
MAX_LIST = 200
ULAW_SILENCE = {0xFF, 0x7F}  # μ-law codes for +0 and -0
MAX_ERRORS = 50


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def event_line(name: str, data: dict[str, Any]) -> None:
    emit(f"EVENT {name} {json.dumps(data, separators=(',', ':'))}")


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.detected: str | None = None
        self.call_data: dict[str, Any] | None = None
        self.messages_in = 0          # text frames the serializer was given
        self.media_in = 0             # of which `media`
        self.silent_media_in = 0      # of which exact silence (the platform's fill while the caller is quiet)
        self.frames_in = 0            # InputAudioRawFrame reaching the echo processor
        self.frames_out = 0           # OutputAudioRawFrame the echo pushed
        self.bytes_in = 0
        self.play_audio_sent = 0      # playAudio messages the serializer produced
        self.play_audio_bytes = 0     # μ-law bytes in them
        self.silent_play_audio_bytes = 0  # of which in all-silence messages (echoed silence, end-of-call padding)
        self.end_padding_bytes = 0    # of which in all-silence messages longer than one 40 ms chunk (Pipecat's end-of-call padding)
        self.clear_audio_sent = 0
        self.other_out: list[str] = []
        self.dtmf: list[str] = []
        self.ended_by_bot = False     # --end-on-digit fired: the bot ended the pipeline itself
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, msg: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(msg[:500])

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


STATS = Stats()


class CountingPlivoSerializer(PlivoFrameSerializer):
    """Pipecat's Plivo serializer, unchanged, with counters on both directions."""

    async def deserialize(self, data: str | bytes) -> Frame | None:
        STATS.messages_in += 1
        try:
            msg = json.loads(data)
            if msg.get("event") == "media":
                STATS.media_in += 1
                raw = base64.b64decode(msg["media"]["payload"])
                if raw and set(raw) == {0xFF}:
                    STATS.silent_media_in += 1
        except (ValueError, AttributeError):
            STATS.error("non-JSON frame from the platform")
        return await super().deserialize(data)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        out = await super().serialize(frame)
        if isinstance(out, str):
            msg = json.loads(out)
            ev = msg.get("event")
            if ev == "playAudio":
                STATS.play_audio_sent += 1
                payload = base64.b64decode(msg["media"]["payload"])
                STATS.play_audio_bytes += len(payload)
                if payload and set(payload) <= ULAW_SILENCE:
                    STATS.silent_play_audio_bytes += len(payload)
                    if len(payload) > 320:
                        STATS.end_padding_bytes += len(payload)
            elif ev == "clearAudio":
                STATS.clear_audio_sent += 1
                event_line("clear_audio", {"streamId": msg.get("streamId")})
            elif len(STATS.other_out) < MAX_LIST:
                STATS.other_out.append(str(ev))
        return out


class EchoProcessor(FrameProcessor):
    """Turns the caller's audio into bot audio, and notes DTMF."""

    def __init__(self, end_on_digit: str | None) -> None:
        super().__init__()
        self._end_on_digit = end_on_digit

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            STATS.frames_in += 1
            STATS.bytes_in += len(frame.audio)
            if STATS.frames_in == 1:
                event_line("first_audio", {"sample_rate": frame.sample_rate, "bytes": len(frame.audio)})
            STATS.frames_out += 1
            await self.push_frame(OutputAudioRawFrame(audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels))
            return
        if isinstance(frame, InputDTMFFrame):
            digit = frame.button.value
            if len(STATS.dtmf) < MAX_LIST:
                STATS.dtmf.append(digit)
            event_line("dtmf", {"digit": digit})
            await self.push_frame(frame, direction)
            if digit == self._end_on_digit:
                # How a Pipecat bot hangs up: end the worker gracefully (queued audio is flushed),
                # which stops the transport and closes the WebSocket. With auto_hang_up off there
                # is no REST call; the platform ends the call when the socket closes.
                STATS.ended_by_bot = True
                event_line("ending", {"digit": digit})
                await self.push_frame(EndWorkerFrame(reason=f"caller pressed {digit}"))
                return
            # A keypress barges in, as a bot would: Pipecat's serializer turns the
            # InterruptionFrame into clearAudio.
            await self.broadcast_interruption()
            return
        await self.push_frame(frame, direction)


async def run_bot(websocket: WebSocket, end_on_digit: str | None) -> None:
    # What pipecat's runner does for telephony: read the first text frame(s) and detect the
    # provider from their shape (Plivo: start.streamId + start.callId).
    transport_type, call_data = await parse_telephony_websocket(websocket)
    STATS.detected = transport_type
    STATS.call_data = {"stream_id": call_data["stream_id"], "call_id": call_data["call_id"]} if transport_type == "plivo" else None
    event_line("detected", {"transport": transport_type, "call_data": STATS.call_data})
    if transport_type != "plivo":
        STATS.error(f"runner detected {transport_type!r}, not plivo")
        await websocket.close(1003)
        return

    serializer = CountingPlivoSerializer(
        stream_id=call_data["stream_id"],
        call_id=call_data["call_id"],
        # The runner passes PLIVO_AUTH_ID/TOKEN; hanging up via api.plivo.com is off because
        # there is no Plivo here (the media pod ends the call when the socket closes).
        auth_id="dummy",
        auth_token="dummy",
        params=PlivoFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
            serializer=serializer, allowed_origins=[],
        ),
    )
    worker = PipelineWorker(
        Pipeline([transport.input(), EchoProcessor(end_on_digit), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=PIPELINE_RATE, audio_out_sample_rate=PIPELINE_RATE),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _ws: Any) -> None:
        event_line("disconnected", {})
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


class SummaryServer(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM/SIGINT once it has shut down gracefully, which would
    kill the process before the summary line; this one only notes the signal and shuts down
    (the test harness SIGKILLs if the shutdown itself hangs)."""

    signalled = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.signalled = True
        self.should_exit = True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-runtime", type=float, default=30.0)
    ap.add_argument("--end-on-digit", default=None, help="DTMF digit on which the bot ends the call itself")
    args = ap.parse_args()

    logger.remove()
    logger.add(sys.stderr, level="INFO")

    def capture(message: Any) -> None:
        rec = message.record
        text = f"{rec['name']}: {rec['message']}"
        if rec["level"].no >= 40:
            STATS.error(f"pipecat log: {text}")
        elif len(STATS.warnings) < MAX_LIST:
            STATS.warnings.append(text[:300])

    logger.add(capture, level="WARNING")

    app = FastAPI()
    done = asyncio.Event()
    server: SummaryServer | None = None

    @app.websocket("/ws")
    async def ws_endpoint(websocket: WebSocket) -> None:
        STATS.connections += 1
        if STATS.connections > 1:
            STATS.error("a second connection was attempted; refused")
            await websocket.close(1013)
            return
        await websocket.accept()
        try:
            await run_bot(websocket, args.end_on_digit)
        except Exception as e:  # noqa: BLE001
            STATS.error(f"bot failed: {type(e).__name__}: {e}")
        finally:
            done.set()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=3, ws_max_size=65536)
    server = SummaryServer(config)
    exit_reason = "max_runtime"

    async def supervise() -> None:
        nonlocal exit_reason
        while not server.started and not server.should_exit:
            await asyncio.sleep(0.01)
        emit(f"LISTENING {port}")
        try:
            await asyncio.wait_for(done.wait(), timeout=args.max_runtime)
            exit_reason = "connection_closed"
        except asyncio.TimeoutError:
            STATS.error(f"max runtime {args.max_runtime}s reached")
        server.should_exit = True

    async def run() -> None:
        nonlocal exit_reason
        sup = asyncio.create_task(supervise())
        await server.serve(sockets=[sock])  # returns on should_exit or SIGTERM/SIGINT
        if not sup.done():
            sup.cancel()
        if server.signalled:
            exit_reason = "signal"

    asyncio.run(run())
    summary = STATS.summary()
    summary["exit"] = exit_reason
    emit(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
