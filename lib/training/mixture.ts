// InvFussion's training degradations (papers.md §2.2, §2.6): one family per batch, uniformly over a random
// matrix with 2–128 rows, strided motion blur (s ∈ {2, 4, 8}, uniform within the family), random patch
// inpainting and none. For trainDiffusion's degradations and degradationWeights.
import type { OperatorSpec } from '../operators';

export const INVFUSSION_DEGRADATIONS: OperatorSpec[] = [
  { family: 'matrix', minRows: 2, maxRows: 128 },
  { family: 'stridedBlur', stride: 2 },
  { family: 'stridedBlur', stride: 4 },
  { family: 'stridedBlur', stride: 8 },
  { family: 'inpainting', randomPatches: true },
  { family: 'none' },
];
export const INVFUSSION_WEIGHTS = [1, 1 / 3, 1 / 3, 1 / 3, 1, 1];

/** The EDM2 settings the InvFussion paper trains with, for trainDiffusion. */
export const EDM2_TRAINING = { pMean: -0.8, pStd: 1.6, mmseShare: 0.05, weighting: 'edm2' } as const;
