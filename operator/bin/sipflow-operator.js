#!/usr/bin/env node
// Entry point of the sipflow-operator command; the code lives in the compiled dist/.
import('../dist/cli/main.js');
