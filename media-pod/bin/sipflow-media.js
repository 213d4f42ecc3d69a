#!/usr/bin/env node
// Entry point of the media pod; the compiled code lives in dist/.
import('../dist/main.js');
