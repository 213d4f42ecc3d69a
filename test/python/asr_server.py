#!/usr/bin/env python3
"""A speech recognition service for the GetInput speech tests: the external service a media pod
reaches with --speech-recognizer-url, speaking the protocol in media-pod/src/speech/recognizer.ts.

One WebSocket per utterance: a JSON `start` (language, hints, ...), the audio as binary frames of
16-bit little-endian samples at 8 kHz, a JSON `stop`; it answers one final `result`, and while the
audio comes in, an interim result whenever the transcript so far changes (checked every 500 ms). Recognition
is CMU PocketSphinx with the US English model its wheel carries (no network). With hints, the
utterance is matched against them as a grammar (what an IVR menu needs); without, it is
transcribed with the general language model.

usage: asr_server.py [--port 0]   prints "LISTENING <port>" once it accepts connections.
"""
import argparse
import array
import asyncio
import json
import os
import sys

from pocketsphinx import Decoder, get_model_path
from websockets.asyncio.server import serve

MODEL = get_model_path()
BASE_CONFIG = dict(
    hmm=os.path.join(MODEL, "en-us", "en-us"),
    dict=os.path.join(MODEL, "en-us", "cmudict-en-us.dict"),
    samprate=16000,
    loglevel="FATAL",
)
MAX_AUDIO_BYTES = 60 * 8000 * 2  # a minute at 8 kHz, GetInput's longest


class Utterance:
    """One utterance decoded as its audio arrives, so transcripts in progress can be reported."""

    def __init__(self, hints):
        self.decoder = make_decoder(hints)
        self.decoder.start_utt()
        self.last = None  # the previous 8 kHz sample, for the midpoint across chunks
        self.bytes = 0

    def feed(self, pcm8: bytes) -> None:
        self.bytes += len(pcm8)
        self.decoder.process_raw(self.upsample(pcm8), False, False)

    def partial(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def final(self) -> dict:
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return {"event": "result", "text": "", "confidence": 0.0, "final": True}
        return {"event": "result", "text": hyp.hypstr.strip(), "confidence": max(0.0, min(1.0, float(hyp.prob))), "final": True}

    def upsample(self, pcm8: bytes) -> bytes:
        """The model is for 16 kHz: each 8 kHz sample, preceded by the midpoint from the previous one."""
        src = array.array("h")
        src.frombytes(pcm8[: len(pcm8) // 2 * 2])
        if sys.byteorder == "big":
            src.byteswap()
        out = array.array("h", bytes(4 * len(src)))
        prev = self.last if self.last is not None else (src[0] if src else 0)
        for i, s in enumerate(src):
            out[2 * i] = (prev + s) // 2
            out[2 * i + 1] = s
            prev = s
        if src:
            self.last = src[-1]
        if sys.byteorder == "big":
            out.byteswap()
        return out.tobytes()


def make_decoder(hints: list):
    """With hints, a grammar of just those phrases (words the dictionary lacks are left out)."""
    decoder = Decoder(**BASE_CONFIG)
    phrases = []
    for h in hints:
        words = [w for w in str(h).lower().split() if w]
        if words and all(decoder.lookup_word(w) is not None for w in words):
            phrases.append(" ".join(words))
    if phrases:
        decoder.add_jsgf_string("hints", "#JSGF V1.0;\ngrammar hints;\npublic <hint> = %s;\n" % " | ".join(phrases))
        decoder.activate_search("hints")
        return decoder
    return Decoder(**BASE_CONFIG, lm=os.path.join(MODEL, "en-us", "en-us.lm.bin"))


PARTIAL_EVERY_BYTES = 8000  # about every 500 ms of audio


async def handle(ws):
    utt = None
    reported = ""
    next_partial = PARTIAL_EVERY_BYTES
    async for message in ws:
        if isinstance(message, bytes):
            if utt is None or utt.bytes + len(message) > MAX_AUDIO_BYTES:
                continue
            await asyncio.to_thread(utt.feed, message)
            if utt.bytes >= next_partial:
                next_partial += PARTIAL_EVERY_BYTES
                text = await asyncio.to_thread(utt.partial)
                if text and text != reported:
                    reported = text
                    interim = {"event": "result", "final": False, "text": text, "stable": "", "stability": 0.5}
                    print("INTERIM " + json.dumps(interim), flush=True)
                    await ws.send(json.dumps(interim))
            continue
        try:
            msg = json.loads(message)
        except ValueError:
            await ws.close(1003, "not JSON")
            return
        if msg.get("event") == "start":
            if msg.get("encoding") != "audio/x-l16" or msg.get("sampleRate") != 8000:
                await ws.close(1003, "unsupported audio format")
                return
            utt = await asyncio.to_thread(Utterance, list(msg.get("hints") or []))
        elif msg.get("event") == "stop" and utt is not None:
            result = await asyncio.to_thread(utt.final)
            result["audioMs"] = utt.bytes // 16
            print("RESULT " + json.dumps(result), flush=True)
            await ws.send(json.dumps(result))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    async with serve(handle, "127.0.0.1", args.port, max_size=1 << 20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
