export { IDM } from './idm';
export type { IDMOptions } from './idm';
