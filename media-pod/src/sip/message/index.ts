/** Public surface of the SIP message layer: types, parser, serializer, header helpers, builders. */
export * from './types.js';
export { parseSipMessage } from './parser.js';
export { serializeMessage } from './serializer.js';
export { parseSipUri, formatSipUri, parseHostPort, formatHost } from './uri.js';
export {
  canonicalHeaderName, isListHeader, getHeader, getHeaders, setHeader, addHeader, removeHeaders,
  parseNameAddr, formatNameAddr, parseVia, formatVia, parseCSeq, parseAuthHeader, parseViaCached, parseNameAddrCached, headerKey,
} from './headers.js';
export {
  createResponse, createRequest, generateBranch, generateTag, generateCallId, BRANCH_MAGIC,
  type ResponseOptions, type RequestInit, type HeaderInput,
} from './builders.js';
export { quote } from './grammar.js';
