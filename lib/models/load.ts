// Rebuilding a model from a file Module.save wrote: its kind and options are in the metadata.
import { moduleFromFile, type Module, type ModuleOptions } from '../module';
import { loadSafetensors } from '../safetensors';

export function loadModel<M extends Module & { metadata: Record<string, string> }>(path: string, kind: string, make: (options: ModuleOptions) => M, owner: string): M {
  const contents = loadSafetensors(path);
  const model = moduleFromFile(`${owner}.load`, path, contents, kind, make);
  model.metadata = contents.metadata;
  return model;
}
