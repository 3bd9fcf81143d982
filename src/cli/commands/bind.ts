/**
 * `meshwork bind`: binds a path through a dtab and namers and prints the bound tree as
 * namerd's `/api/1/bind` JSON, after waiting (bounded) for the first non-pending answer.
 */
import type { Command } from '../command.js';
import { bind } from '../../naming/binder.js';
import { boundTreeToJson, stringifyDelegateJson } from '../../naming/delegator.js';
import { parseNamingArgs } from './naming-args.js';

const usage = `usage: meshwork bind [--dtab DTAB] [--config FILE [--router LABEL]] [--timeout MS] PATH

Binds PATH and prints the bound name tree as namerd's /api/1/bind JSON, e.g.
{"type":"leaf","bound":{"addr":{...},"id":"/#/io.l5d.fs/users","path":"/"}} or {"type":"neg"}.
Waits up to --timeout ms (default 5000) for the first answer that is not pending.
`;

export const command: Command = {
  name: 'bind',
  summary: 'bind a path through a dtab and namers (namerd /api/1/bind JSON)',
  usage,
  async run(args, io) {
    const parsed = await parseNamingArgs(args, io, [], usage);
    if (typeof parsed === 'number') return parsed;
    const act = bind(parsed.dtab, parsed.path, parsed.namers);
    // Keep the bind observed while addresses resolve, so namer watches are not restarted.
    const sub = act.states.observe(() => {});
    try {
      const tree = await act.toPromise(parsed.timeoutMs);
      const json = await boundTreeToJson(tree, parsed.timeoutMs);
      io.stdout(stringifyDelegateJson(json) + '\n');
      return 0;
    } catch (e) {
      io.stderr(`bind failed: ${(e as Error).message}\n`);
      return 1;
    } finally {
      sub.close();
    }
  },
};
