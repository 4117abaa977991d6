// Rebuilding a model from a file Module.save wrote: its kind and options are in the metadata.
import type { Module, ModuleOptions } from '../module';
import { loadSafetensors } from '../safetensors';

export function loadModel<M extends Module & { metadata: Record<string, string> }>(path: string, kind: string, make: (options: ModuleOptions) => M, owner: string): M {
  const { tensors, metadata } = loadSafetensors(path);
  try {
    if (metadata['invdiff.kind'] !== kind) throw new Error(`${owner}.load: '${path}' holds a '${metadata['invdiff.kind'] ?? 'unknown'}' module, not a '${kind}' one`);
    const model = make(JSON.parse(metadata['invdiff.options'] ?? '{}'));
    try {
      model.loadStateDict(tensors);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.metadata = metadata;
    return model;
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
