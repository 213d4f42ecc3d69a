#!/usr/bin/env python3
"""A speech recognition service for the GetInput speech tests: the external service a media pod
reaches with --speech-recognizer-url, speaking the protocol in media-pod/src/speech/recognizer.ts.

One WebSocket per utterance: a JSON `start` (language, hints, ...), the audio as binary frames of
16-bit little-endian samples at 8 kHz, a JSON `stop`; it answers one final `result`. Recognition
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


def upsample_8k_to_16k(pcm8: bytes) -> bytes:
    """The model is for 16 kHz: every 8 kHz sample, then the midpoint to the next one."""
    src = array.array("h")
    src.frombytes(pcm8[: len(pcm8) // 2 * 2])
    if sys.byteorder == "big":
        src.byteswap()
    out = array.array("h", bytes(4 * len(src)))
    for i, s in enumerate(src):
        nxt = src[i + 1] if i + 1 < len(src) else s
        out[2 * i] = s
        out[2 * i + 1] = (s + nxt) // 2
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def recognize(pcm8: bytes, hints: list) -> dict:
    if hints:
        decoder = Decoder(**BASE_CONFIG)
        phrases = []
        for h in hints:
            words = [w for w in str(h).lower().split() if w]
            if words and all(decoder.lookup_word(w) is not None for w in words):
                phrases.append(" ".join(words))
        if phrases:
            decoder.set_jsgf_string("hints", "#JSGF V1.0;\ngrammar hints;\npublic <hint> = %s;\n" % " | ".join(phrases))
            decoder.activate_search("hints")
        else:
            decoder = Decoder(**BASE_CONFIG, lm=os.path.join(MODEL, "en-us", "en-us.lm.bin"))
    else:
        decoder = Decoder(**BASE_CONFIG, lm=os.path.join(MODEL, "en-us", "en-us.lm.bin"))
    audio = upsample_8k_to_16k(pcm8)
    decoder.start_utt()
    for i in range(0, len(audio), 640):
        decoder.process_raw(audio[i : i + 640], False, False)
    decoder.end_utt()
    hyp = decoder.hyp()
    if hyp is None or not hyp.hypstr.strip():
        return {"event": "result", "text": "", "confidence": 0.0, "final": True}
    return {"event": "result", "text": hyp.hypstr.strip(), "confidence": max(0.0, min(1.0, float(hyp.prob))), "final": True}


async def handle(ws):
    opts = None
    audio = bytearray()
    async for message in ws:
        if isinstance(message, bytes):
            if opts is not None and len(audio) + len(message) <= MAX_AUDIO_BYTES:
                audio.extend(message)
            continue
        try:
            msg = json.loads(message)
        except ValueError:
            await ws.close(1003, "not JSON")
            return
        if msg.get("event") == "start":
            opts = msg
            if msg.get("encoding") != "audio/x-l16" or msg.get("sampleRate") != 8000:
                await ws.close(1003, "unsupported audio format")
                return
        elif msg.get("event") == "stop":
            result = await asyncio.to_thread(recognize, bytes(audio), list((opts or {}).get("hints") or []))
            result["audioMs"] = len(audio) // 16
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
