/** RTP for the media pod: packets, port pool, reorder buffer, shared pacer and per-call sessions. */
export * from './packet.js';
export * from './port-pool.js';
export * from './jitter-buffer.js';
export * from './media-clock.js';
export * from './session.js';
