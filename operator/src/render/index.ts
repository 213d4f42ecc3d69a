/**
 * What local mode needs from the operator, in one import: load manifests → validate →
 * render → (contract) assembleRuntimeConfig.
 */
export { render, toKubeObjects, sipUri, REASONS, type RenderInput, type RenderResult, type ObjectResult, type Reason } from './render.js';
export { loadManifestDir, loadManifestPaths, parseManifestText, describeDoc, formatDocError, type ManifestDoc, type ManifestSet, type ManifestSource } from '../api/manifests.js';
export { validateObject, formatFieldErrors, type FieldError, type ValidationResult } from '../api/validate.js';
export { assembleRuntimeConfig, writeContractFiles, readContractDir } from '../contract/contract.js';
export type { KubeObject } from '../api/types.js';
