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
