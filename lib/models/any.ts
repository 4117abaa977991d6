// Loading a saved model of any family: the file's 'invdiff.kind' metadata says which class rebuilds it.
import { readSafetensorsMetadata } from '../safetensors';
import { Palette, Unconditional } from './diffusion';
import { IDM } from './idm';
import { InvFussion } from './invfussion';

export type AnyModel = IDM | Unconditional | Palette | InvFussion;

const LOADERS: Record<string, (path: string) => AnyModel> = {
  idm: IDM.load,
  unconditional: Unconditional.load,
  palette: Palette.load,
  invfussion: InvFussion.load,
};

/** The model a file written by save() holds, as its own class. */
export function load(path: string): AnyModel {
  const kind = readSafetensorsMetadata(path)['invdiff.kind'];
  const loader = kind ? LOADERS[kind] : undefined;
  if (!loader) throw new Error(`models.load: '${path}' holds ${kind ? `a '${kind}' module` : 'no invdiff model'}; expected one of ${Object.keys(LOADERS).join(', ')}`);
  return loader(path);
}
