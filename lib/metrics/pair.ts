// The two images a metric compares: both live tensors of one shape, N×C×H×W.
import { TensorBase, type Tensor } from '../tensor';

export function checkPair(metric: string, x: unknown, ref: unknown): void {
  for (const [name, v] of [['x', x], ['ref', ref]] as const)
    if (!(v instanceof TensorBase) || v.isDisposed) throw new TypeError(`${metric}: argument '${name}' expected a live Tensor (N×C×H×W images), got ${v instanceof TensorBase ? 'a disposed one' : typeof v}`);
  const [a, b] = [x as Tensor, ref as Tensor];
  if (a.shape.join('x') !== b.shape.join('x')) throw new RangeError(`${metric}: 'x' has shape [${a.shape}] but 'ref' has [${b.shape}]`);
}
