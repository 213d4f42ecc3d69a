/** SDP parsing and offer/answer for the media pod. */
export * from './parse.js';
export * from './negotiate.js';
