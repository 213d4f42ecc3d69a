/**
 * The Plivo audio-streaming bridge: what the XML engine and the media pacer import to run a
 * `<Stream>` (one StreamBridge per stream) and to check wire output in tests.
 */
export { StreamBridge, StreamConfigError, StreamConnectError } from './bridge.js';
export type { StreamBridgeOptions, StreamBridgeStats, StreamConfigProblem } from './bridge.js';
export { STREAM_CONTENT_TYPES, isUuid, parseAgentMessage, streamFormatOf, tracksOf } from './protocol.js';
export type {
  AgentMessage, AudioTrackSetting, StreamCloseInfo, StreamContentType, StreamFormat, StreamStatusEvent,
  StreamStopReason, StreamTrack,
} from './protocol.js';
export type { CallAudioFrame } from './wire-messages.js';
export { platformMessageProblems } from './sdk-shape.js';
