/**
 * Public surface of the Plivo XML layer: parse an answer/redirect document into typed verbs, and
 * describe them for logs. The executor lives elsewhere and consumes `PlivoDocument`.
 */

export { parsePlivoXml, DEFAULT_MAX_XML_BYTES, DEFAULT_MAX_XML_DEPTH } from './parser.js';
export { describeVerb, isSupportedVerb, redactUrl, SUPPORTED_VERBS } from './describe.js';
export type { SupportedVerb, SupportedVerbKind } from './describe.js';
export { VERB_KINDS } from './schema.js';
export type * from './types.js';
