/**
 * The one place that pulls in every area's plugin registrations, so that loading a config sees
 * every kind Meshwork builds. Each area adds one import line for its registry module (which
 * calls `registerPlugin` / `implementPlugin` from ./plugins.js at import time and keeps heavy
 * client libraries behind lazy imports inside `create`), e.g.:
 *
 *   import '../namers/registry.js';
 *
 * A kind not registered here stays "known, not supported yet" (see catalogue.ts).
 * Imported by the CLI commands and the compat suite, not by load.ts: unit tests of the loader
 * register exactly the kinds they need.
 */
import { registerPlugin } from './plugins.js';
import '../namers/registry.js';
import '../router/register-plugins.js';
import '../router/register-http.js';
import '../router/register-h2.js';
import '../router/register-thrift.js';
import '../router/register-tcp.js';
import '../transformers/register-plugins.js';
import '../namerd/stores/registry.js';
import '../namerd/register-interfaces.js';
import '../interpreters/register.js';
import '../admin/register.js';
import '../announcers/index.js';
import { TELEMETERS, TELEMETERS_FROM } from '../telemetry/telemeters.js';
import { lazyPluginSpecs } from './lazy-plugins.js';

// Areas that export specs without a registering module of their own.
// Telemeters load on use; telemetry imports nothing outside itself, so their stand-ins are made here.
for (const spec of lazyPluginSpecs('telemeter', TELEMETERS_FROM, TELEMETERS)) registerPlugin(spec);
