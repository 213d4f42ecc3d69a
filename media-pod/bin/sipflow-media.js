#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point of the media pod; the compiled code lives in dist/. The shebang's node flags are
// MEDIA_POD_NODE_ARGS (src/node-flags.ts): every launcher passes the same ones.
import('../dist/main.js');
