// The restoration layer: methods, which method suits which model, evaluation, and reports.
export { idmRestorer, samplerRestorer, mmseRestorer, SAMPLER_NAMES } from './methods';
export type { Restorer, SamplerName } from './methods';
export { restoreImages, restoreImagesAsync, asRestorer } from './restore-images';
export type { Restored, Method, RestoreOptions } from './restore-images';
export { ZERO_SHOT, METHOD_NAMES, defaultMethod, defaultSteps, unsuitable, restorerFor, trainedOperator } from './suitability';
export type { MethodName } from './suitability';
export { evaluate } from './evaluate';
export type { EvaluationOptions, EvaluationRow, NamedImage, Score } from './evaluate';
export { describeOperator, SCORE_COLUMNS, markdownTable, htmlTable, htmlPage, writeGrid } from './report';
export type { Column } from './report';
