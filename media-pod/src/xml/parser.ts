/**
 * Parses a Plivo XML answer document into typed verbs with saxes (strict, streaming, positioned),
 * rejecting anything Plivo would reject and anything that could make parsing expensive.
 */

import { SaxesParser } from 'saxes';
import type { ElementSource, SourceAttribute } from './attributes.js';
import { PlivoXmlFailure, quoteValue } from './failure.js';
import { ELEMENT_RULES, type ElementRule } from './schema.js';
import { buildElement, verbsOf, type ContentPart } from './verbs.js';
import type { PlivoXmlError, PlivoXmlErrorCode, PlivoXmlParseOptions, PlivoXmlParseResult } from './types.js';

export const DEFAULT_MAX_XML_BYTES = 100 * 1024;
export const DEFAULT_MAX_XML_DEPTH = 32;

interface OpenFrame extends ElementSource {
  readonly rule: ElementRule;
  readonly attributes: Map<string, SourceAttribute>;
  readonly parts: ContentPart[];
}

/** Maps string offsets to 1-based line/column, counting CRLF, CR and LF as XML does. */
class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) this.starts.push(i + 1);
    }
  }

  locate(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.starts[lo] ?? 0) + 1 };
  }
}

function failure(code: PlivoXmlErrorCode, message: string, line = 1): PlivoXmlParseResult {
  const error: PlivoXmlError = { message, line, code };
  return { ok: false, error };
}

/** Offset of the first byte that is not well-formed UTF-8, or -1. */
export function findInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    let need: number;
    let min: number;
    if (b < 0x80) { i++; continue; }
    if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = 0x10000; }
    else return i;
    if (i + need >= bytes.length) return i; // truncated sequence at the end
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k] ?? 0;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function lineOfByte(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

function decodeInput(input: string | Uint8Array, maxBytes: number): { text: string } | PlivoXmlParseResult {
  const limit = `the ${maxBytes}-byte limit`;
  if (typeof input === 'string') {
    // Every UTF-16 unit is at least one UTF-8 byte, so long strings are refused without measuring.
    if (input.length > maxBytes) return failure('too-large', `document is larger than ${limit} (at least ${input.length} bytes)`);
    const size = Buffer.byteLength(input, 'utf8');
    if (size > maxBytes) return failure('too-large', `document is ${size} bytes, over ${limit}`);
    return { text: input };
  }
  if (input.byteLength > maxBytes) return failure('too-large', `document is ${input.byteLength} bytes, over ${limit}`);
  const bad = findInvalidUtf8(input);
  if (bad >= 0) {
    const line = lineOfByte(input, bad);
    return failure('encoding', `line ${line}: document is not valid UTF-8 (byte offset ${bad})`, line);
  }
  return { text: new TextDecoder('utf-8').decode(input) };
}

/** Element and attribute names go into messages; a 20 KB name must not. */
function boundedName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

function boundedMessage(message: string): string {
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  for (const c of candidates) if (c.toLowerCase() === lower) return c;
  return undefined;
}

/**
 * Parses and validates a Plivo XML document. Never throws for bad input: every problem comes back
 * as `{ ok: false, error }` with the line it is on. Bytes are checked to be UTF-8 first; strings are
 * taken as already decoded. Throws RangeError only for invalid options.
 */
export function parsePlivoXml(input: string | Uint8Array, opts: PlivoXmlParseOptions = {}): PlivoXmlParseResult {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_XML_DEPTH;
  // A NaN limit would compare false everywhere and silently disable the check, so refuse it loudly:
  // options come from our code, not from the answer server.
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1) throw new RangeError(`maxDepth must be a positive integer, got ${maxDepth}`);
  const decoded = decodeInput(input, maxBytes);
  if (!('text' in decoded)) return decoded;
  let text = decoded.text;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return failure('root', 'line 1: document is empty; expected a <Response> element');

  const lines = new LineIndex(text);
  const parser = new SaxesParser({ position: true });
  const stack: OpenFrame[] = [];
  let verbs: ReturnType<typeof verbsOf> | undefined;
  let rootEnd = -1;

  const fail = (code: PlivoXmlErrorCode, what: string, at: { line: number; column: number }, element?: string): never => {
    throw new PlivoXmlFailure(code, what, { ...at, ...(element !== undefined ? { element } : {}) });
  };

  parser.on('doctype', () => {
    const at = lines.locate(Math.max(0, text.indexOf('<!DOCTYPE')));
    fail('doctype', 'DOCTYPE declarations are not allowed in Plivo XML (entity definitions are refused)', at);
  });

  parser.on('opentagstart', (tag) => {
    const name = tag.name;
    const shown = boundedName(name);
    const at = lines.locate(Math.max(0, text.lastIndexOf(`<${name}`, parser.position - name.length - 1)));
    if (stack.length >= maxDepth) fail('too-deep', `<${shown}> is nested deeper than ${maxDepth} levels`, at, shown);
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      if (name !== 'Response') {
        const hint = name.toLowerCase() === 'response' ? ' (element names are case-sensitive)' : '';
        fail('root', `root element must be <Response>, got <${shown}>${hint}`, at, shown);
      }
    } else {
      const rule = ELEMENT_RULES.get(name);
      if (rule === undefined) {
        const guess = closestName(name, ELEMENT_RULES.keys());
        const hint = guess !== undefined ? ` (did you mean <${guess}>? element names are case-sensitive)` : '';
        fail('unknown-element', `unknown element <${shown}>${hint}`, at, shown);
      }
      if (!parent.rule.children.includes(name)) {
        const allowed = parent.rule.children.length === 0
          ? `<${parent.name}> may not contain elements`
          : `allowed inside <${parent.name}>: ${parent.rule.children.join(', ')}`;
        fail('nesting', `<${shown}> is not allowed inside <${parent.name}>; ${allowed}`, at, shown);
      }
    }
    const rule = ELEMENT_RULES.get(name);
    if (rule === undefined) throw new Error(`no rule for <${name}>`);
    stack.push({ name, ...at, rule, attributes: new Map(), parts: [] });
  });

  parser.on('attribute', (attr) => {
    const frame = stack[stack.length - 1];
    if (frame === undefined) return;
    const at = lines.locate(attributeStart(text, parser.position, attr.name));
    if (!frame.rule.attributes.includes(attr.name)) {
      const guess = closestName(attr.name, frame.rule.attributes);
      const hint = attr.name === 'xmlns' || attr.name.startsWith('xmlns:')
        ? ' (Plivo XML uses no namespaces)'
        : guess !== undefined ? ` (did you mean ${guess}? attribute names are case-sensitive)` : '';
      const allowed = frame.rule.attributes.length === 0 ? 'none' : frame.rule.attributes.join(', ');
      fail('unknown-attribute', `<${frame.name}> has unknown attribute ${boundedName(attr.name)}${hint}; allowed: ${allowed}`, at, frame.name);
    }
    frame.attributes.set(attr.name, { value: attr.value, ...at });
  });

  const addText = (chunk: string, endOffset: number): void => {
    const frame = stack[stack.length - 1];
    if (frame === undefined) return;
    if (frame.rule.text === 'none' && chunk.trim() !== '') {
      const lead = chunk.length - chunk.trimStart().length;
      const at = lines.locate(Math.max(0, endOffset - chunk.length + lead));
      fail('invalid-content', `<${frame.name}> must not contain text, got ${quoteValue(chunk.trim())}`, at, frame.name);
    }
    frame.parts.push({ kind: 'text', text: chunk });
  };
  // Text is reported when the next `<` is seen, so it ended one character before the position.
  parser.on('text', (chunk) => addText(chunk, parser.position - 1));
  parser.on('cdata', (chunk) => addText(chunk, parser.position - 3));

  parser.on('closetag', (tag) => {
    // saxes reports the close before checking that the names match, so check here first.
    if (!tag.isSelfClosing) {
      const end = parser.position;
      const open = text.lastIndexOf('</', end - 3);
      const closeName = text.slice(open + 2, end - 1).trim();
      if (closeName !== tag.name) {
        fail('malformed', `malformed XML: </${boundedName(closeName)}> does not close <${tag.name}>`, lines.locate(Math.max(0, open)), tag.name);
      }
    }
    const frame = stack.pop();
    if (frame === undefined) return;
    if (frame.name === 'Response') {
      rootEnd = parser.position;
      verbs = verbsOf({ ...frame });
      return;
    }
    const part = buildElement(frame);
    stack[stack.length - 1]?.parts.push(part);
  });

  try {
    parser.write(text).close();
  } catch (err) {
    if (err instanceof PlivoXmlFailure) return { ok: false, error: err.detail };
    const m = err instanceof Error ? /^(\d+):(\d+): (.*)$/s.exec(err.message) : null;
    if (m === null) throw err;
    let line = Number(m[1]);
    // saxes columns count characters consumed; clamp so a failure at a line start reads as column 1.
    let column = Math.max(1, Number(m[2]));
    if (rootEnd >= 0 && /outside of root/.test(m[3] ?? '')) {
      // saxes notices stray trailing text only at the end; point at where it starts instead.
      const at = lines.locate(rootEnd + (text.slice(rootEnd).length - text.slice(rootEnd).trimStart().length));
      line = at.line;
      column = at.column;
    }
    const element = stack[stack.length - 1]?.name;
    const error: PlivoXmlError = {
      message: `line ${line}: malformed XML at column ${column}: ${boundedMessage(m[3] ?? '')}`,
      line, column, code: 'malformed', ...(element !== undefined ? { element } : {}),
    };
    return { ok: false, error };
  }
  if (verbs === undefined) return failure('root', 'line 1: document has no <Response> element');
  return { ok: true, document: { verbs } };
}

/**
 * Offset of an attribute's name, worked back from the end of its quoted value (where saxes reports
 * it): a quoted value cannot contain its own quote character, so the opening quote is unambiguous.
 */
function attributeStart(text: string, end: number, name: string): number {
  const quote = text[end - 1];
  if (quote !== '"' && quote !== "'") return Math.max(0, end - 1);
  let j = text.lastIndexOf(quote, end - 2) - 1;
  while (j > 0 && /\s/.test(text[j] ?? '')) j--;
  if (text[j] === '=') j--;
  while (j > 0 && /\s/.test(text[j] ?? '')) j--;
  return Math.max(0, j + 1 - name.length);
}
