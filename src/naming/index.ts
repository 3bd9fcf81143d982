/** The naming core's public surface: other areas import from here. */
export { Path, showElem, isShowableElem } from './path.js';
export type { NameTree, Leaf, Alt, Union, Weighted, Neg, Fail, Empty } from './name-tree.js';
export { NEG, FAIL, EMPTY, DEFAULT_WEIGHT, leaf, alt, union, weighted } from './name-tree.js';
export { Dtab, Dentry, Prefix, ANY_ELEM, type PrefixElem } from './dtab.js';
export { readPath, readNameTree, readPrefix, readDentry, readDtab } from './parser.js';
export { showTree, showNameTree, mapTree } from './show.js';
export { simplifyTree, evalTree, type Evaluated } from './tree-ops.js';
export { NamingParseError } from './errors.js';
export type { Addr, Address } from './addr.js';
export type { Activity as ActivityContract, ActivityState, BoundName, Closable, Namer, Var } from './contracts.js';
// Observables, binding and delegation (the binding half of the naming core).
export type { Name, NameNamer } from './contracts.js';
export { BaseVar, ConstVar, MutableVar, AsyncVar, collect as collectVars, firstMatching, sameValue, type Equality } from './var.js';
export { Activity, MutableActivity, PENDING, ok, failed, stateEquals, observerCountOf } from './activity.js';
export { addrEquals, addrToJson, boundName, boundToJson, boundNameEquals, boundTreeEquals, isPath, nameTreeEquals, treeEquals } from './bound.js';
export type { AddrJson, AddressJson, BoundJson } from './bound.js';
export { bind, bindNameTree, DefaultInterpreter, type NameInterpreter } from './binder.js';
export { MAX_DEPTH, NO_NAMERS, NamerMaxDepthError, lookupName, lookupNamers } from './namer-ops.js';
export type { ConfiguredNamer, ConfiguredNamers, DtabLookup } from './namer-ops.js';
export {
  delegate,
  explainDelegation,
  delegateTreeToJson,
  boundTreeToJson,
  stringifyDelegateJson,
  renderDelegateJson,
  simplifyDelegateTree,
  findInDelegateTree,
  DelegationTimeoutError,
  DelegationDepthError,
} from './delegator.js';
export type { DelegateTree, DelegateJson, DelegateOptions, DelegateJsonOptions, DelegationDtab, DelegationDentry, DentryJson } from './delegator.js';
