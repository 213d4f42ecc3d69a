/** The controller runtime's clock is the shared one (operator/src/clock.ts). */
export * from '../clock.js';
