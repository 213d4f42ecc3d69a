/** Public surface of the SIP transport layer: the UDP/TCP/TLS transport, its contract, routing rules, TLS credentials and a fake. */
export * from './types.js';
export { SipTransportLayer, type SipTransportOptions, type SipTlsOptions } from './layer.js';
export {
  TlsCredentialsError, TlsCredentialsWatcher, checkTlsCredentials, describeCertificate, readTlsCredentials,
  type TlsCredentialFiles, type TlsCredentials, type TlsCredentialsProblem, type TlsCredentialsWatcherOptions, type TlsReloadOutcome,
} from './tls-credentials.js';
export { stampTopVia, responseDestination, buildErrorResponse, normalizeAddress } from './routing.js';
export { TcpFramer, type FrameResult, type FramingError } from './tcp-framer.js';
export { FakeSipTransport, type SentMessage } from './fake.js';
