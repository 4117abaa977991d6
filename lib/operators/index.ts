export { Operator, names, create } from './operator';
export type { OperatorOptions } from './operator';
