// Model cards: what a checkpoint is and was trained for, in its safetensors metadata ('invdiff.card'), so a
// file says what it suits without the run that made it. Files from before cards are described from the
// metadata they have ('invdiff.kind', 'invdiff.options', 'invdiff.trained').
import * as fs from 'fs';
import * as path from 'path';
import type { OperatorSpec } from '../operators/operator';
import { readSafetensorsMetadata, rewriteSafetensorsMetadata, safetensorsContentHash } from '../safetensors';

export interface ModelCard {
  /** The shipped name ('idm-cs10'), when it is one of the package's models. */
  name?: string;
  /** 'idm', 'unconditional', 'palette', … (the module kind that rebuilds it). */
  kind: string;
  /** The options the model was built with. */
  configuration: Record<string, unknown>;
  imageChannels: number;
  /**
   * The degradations it was trained on: an IDM's operator, a Palette's degradations. Empty for an
   * unconditional prior, which the zero-shot samplers run on any operator.
   */
  trainedFor: OperatorSpec[];
  /** The training images ('Train400', 'dead-leaves', a folder's name). */
  data: string;
  steps: number;
  /** ISO 8601, when the card was written for a fresh training, or the checkpoint's date. */
  date: string;
  invdiffVersion: string;
  /** safetensorsContentHash of the file when the card was written. */
  contentHash: string;
  /** Anything else worth knowing (measured quality, how it was made). */
  notes?: string;
}

/** A card read back: whether the file's tensors still match its hash, and whether it had a card at all. */
export interface Description extends ModelCard {
  file: string;
  hashMatches: boolean;
  /** False for files written before cards, described from their other metadata. */
  hasCard: boolean;
}

export const CARD_KEY = 'invdiff.card';

export function invdiffVersion(): string {
  return JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')).version;
}

// The card a file's older metadata implies ('invdiff.trained' as the training runs wrote it).
function inferred(meta: Record<string, string>, file: string): Omit<ModelCard, 'contentHash'> {
  const kind = meta['invdiff.kind'];
  if (!kind) throw new Error(`models.describe: '${file}' has no 'invdiff.kind' metadata; it is not a model written by invdiff`);
  const configuration = JSON.parse(meta['invdiff.options'] ?? '{}');
  const trained = JSON.parse(meta['invdiff.trained'] ?? '{}');
  return {
    kind,
    configuration,
    imageChannels: configuration.imageChannels ?? 1,
    trainedFor: trainedFor(meta),
    data: trained.data ?? 'unknown',
    steps: trained.steps ?? 0,
    date: fs.statSync(file).mtime.toISOString(),
    invdiffVersion: 'unknown (before model cards)',
  };
}

/** The card of a model file, checked against the file's tensors. */
export function describe(file: string): Description {
  if (typeof file !== 'string') throw new TypeError(`models.describe: argument 'file' must be a path, got ${typeof file}`);
  if (!fs.existsSync(file)) throw new Error(`models.describe: '${file}' does not exist`);
  const meta = readSafetensorsMetadata(file);
  const hash = safetensorsContentHash(file);
  const stored = meta[CARD_KEY];
  if (!stored) return { ...inferred(meta, file), contentHash: hash, file, hashMatches: true, hasCard: false };
  const card = JSON.parse(stored) as ModelCard;
  return { ...card, file, hashMatches: card.contentHash === hash, hasCard: true };
}

/**
 * Writes the card into a model file: kind and configuration from its metadata, the content hash of its
 * tensors, and the training facts given. The tensors are not touched.
 */
export function writeCard(file: string, facts: Pick<ModelCard, 'trainedFor' | 'data' | 'steps'> & Partial<Pick<ModelCard, 'name' | 'date' | 'notes'>>): ModelCard {
  const meta = readSafetensorsMetadata(file);
  const base = inferred(meta, file);
  const card: ModelCard = {
    ...(facts.name ? { name: facts.name } : {}),
    kind: base.kind,
    configuration: base.configuration,
    imageChannels: base.imageChannels,
    trainedFor: facts.trainedFor,
    data: facts.data,
    steps: facts.steps,
    date: facts.date ?? new Date().toISOString(),
    invdiffVersion: invdiffVersion(),
    contentHash: safetensorsContentHash(file),
    ...(facts.notes ? { notes: facts.notes } : {}),
  };
  rewriteSafetensorsMetadata(file, { ...meta, [CARD_KEY]: JSON.stringify(card) });
  return card;
}

/** The degradations a loaded model's metadata (model.metadata) says it was trained on: its card's, or the older 'invdiff.trained'. */
export function trainedFor(metadata: Record<string, string>): OperatorSpec[] {
  if (metadata[CARD_KEY]) return (JSON.parse(metadata[CARD_KEY]) as ModelCard).trainedFor;
  const trained = JSON.parse(metadata['invdiff.trained'] ?? '{}');
  return trained.operator ? [trained.operator] : (trained.degradations ?? []);
}

const IGNORED = new Set(['noiseStd', 'seed', 'batch']);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** 'blockCS ratio 0.1': a spec in a few words. */
export function specText(spec: OperatorSpec): string {
  const opts = Object.entries(spec).filter(([k]) => k !== 'family' && !IGNORED.has(k));
  return `${spec.family}${opts.length ? ` ${opts.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')}` : ''}`;
}

// A training degradation that draws its parameters per sample (InvFussion's mixture) covers its whole family.
const drawsParameters = (t: OperatorSpec) => t.randomPatches === true || (t.family === 'matrix' && t.minRows !== t.maxRows);

/**
 * Why running a model trained for `trainedFor` on `spec` is outside its training (a sentence), or undefined
 * when one of its training degradations has the same family and options (noise and seeds aside), or the same
 * family with parameters drawn per sample (random patches, a random number of matrix rows). An empty
 * list (an unconditional prior) suits every operator.
 */
export function untrainedOperator(trainedFor: OperatorSpec[], spec: OperatorSpec, who = 'the model'): string | undefined {
  if (!trainedFor.length) return undefined;
  const fits = trainedFor.some((t) => {
    if (drawsParameters(t)) return t.family === spec.family;
    const keys = new Set([...Object.keys(t), ...Object.keys(spec)].filter((k) => !IGNORED.has(k)));
    return [...keys].every((k) => same((t as Record<string, unknown>)[k], (spec as Record<string, unknown>)[k]));
  });
  if (fits) return undefined;
  return `${who} was trained for ${trainedFor.map(specText).join('; ')}, not for ${specText(spec)}: expect results below what it gives on its own operator (often below A⁺y)`;
}

/** The card as text for people (invdiff info FILE, invdiff models). */
export function formatCard(c: ModelCard & Partial<Description>): string {
  const lines = [
    `${c.name ?? (c.file ? path.basename(c.file) : 'model')}: ${c.kind}, ${c.imageChannels} image channel${c.imageChannels === 1 ? '' : 's'}`,
    `  trained for: ${c.trainedFor.length ? c.trainedFor.map(specText).join('; ') : 'no operator (a prior for the zero-shot samplers, any operator)'}`,
    `  data: ${c.data}; ${c.steps} steps; ${c.date.slice(0, 10)}; invdiff ${c.invdiffVersion}`,
    `  configuration: ${JSON.stringify(c.configuration)}`,
    `  content: ${c.contentHash}${c.hashMatches === false ? ' (DOES NOT MATCH the tensors: the file changed after its card was written)' : ''}`,
  ];
  if (c.hasCard === false) lines.push('  (no card in the file: described from its older metadata)');
  if (c.notes) lines.push(`  notes: ${c.notes}`);
  return lines.join('\n');
}
