/**
 * Marks router protocols `thrift` and `thriftmux` as built (the thrift routers, src/router/thrift,
 * assembled by linker.ts), and `mux` (src/router/mux). thriftmux stays experimental, as in
 * Linkerd: a config must say `experimental: true` (Linkerd's mux router does not ask for it). Server and client keys the thrift routers do not build are refused at
 * validation (config/router-fields.ts, notBuiltYet).
 */
import { implementPlugin, registerPlugin } from '../config/plugins.js';
import { routerFields } from '../config/router-fields.js';

implementPlugin('protocol', 'thrift', () => 'thrift');
implementPlugin('protocol', 'mux', () => 'mux');
registerPlugin({ category: 'protocol', kind: 'thriftmux', fields: routerFields('thriftmux'), experimental: true, create: () => 'thriftmux' });
