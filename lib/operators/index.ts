export { Operator, names, create, fromSpec } from './operator';
export type { OperatorOptions, OperatorSpec } from './operator';
