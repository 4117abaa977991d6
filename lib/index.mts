// The ESM entry point: the CommonJS build's exports, re-exported, so both entry points share one instance
// of the addon and of every class (instanceof holds across them).
export * from './index.js';
