/** Public surface of the SIP transport layer: the UDP/TCP transport, its contract, routing rules and a fake. */
export * from './types.js';
export { SipTransportLayer, type SipTransportOptions } from './layer.js';
export { stampTopVia, responseDestination, buildErrorResponse, normalizeAddress } from './routing.js';
export { TcpFramer, type FrameResult, type FramingError } from './tcp-framer.js';
export { FakeSipTransport, type SentMessage } from './fake.js';
