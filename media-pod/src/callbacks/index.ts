/** HTTP callbacks of the media pod: answer/redirect/action XML fetches, status notifications, V3 signing, Plivo parameter sets. */
export {
  AnswerUrlClient,
  type AnswerUrlClientOptions, type FetchXmlRequest, type FetchXmlResult, type FetchXmlFailure, type AnswerFetchResult,
  type FetchAnswerOptions, type XmlPurpose,
} from './answerUrlClient.js';
export { CallbackClient, type CallbackClientOptions, type CallbackClientStats, type NotifyOutcome, type NotifyRequest } from './callbackClient.js';
export {
  CallbackTransport, parseUrlTimeouts, redactUrl, DEFAULT_TIMEOUTS,
  type CallbackFailureCause, type CallbackRequest, type CallbackTransportOptions, type ExchangeResult, type HttpMethod, type UrlTimeouts,
} from './transport.js';
export {
  computeSignatureV3, signatureBaseV3, signedHeaders, validateSignatureV3, newSignatureNonce, splitSigningUrl,
  type SignatureParams, type SignatureV3Input, type SignatureV3Headers,
} from './signatureV3.js';
export {
  answerParams, hangupParams, customHeaderParams, plivoAddress, plivoTimestamp, authTypeParam, CUSTOM_HEADER_LIMITS,
  type AnswerParamsInput, type HangupParamsInput, type AuthTypeParam, type SipHeaderList,
} from './params.js';
export { HANGUP_CAUSES, hangupCauseByCode, type HangupCause, type HangupCauseKey, type HangupSource } from './hangupCauses.js';
