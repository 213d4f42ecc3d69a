/** DTMF for the media pod: RFC 4733 telephone-event receive/send and in-band tone fallback. */
export * from './telephone-event.js';
export * from './sender.js';
export * from './inband-detector.js';
