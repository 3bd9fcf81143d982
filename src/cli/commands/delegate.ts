/**
 * `meshwork delegate`: explains how a path delegates through a dtab and namers, every branch
 * included, as the JSON of Linkerd's `/delegator.json` (or an indented tree with `--tree`).
 */
import type { Command } from '../command.js';
import { showNameTree } from '../../naming/index.js';
import { delegate, delegateTreeToJson, renderDelegateJson, stringifyDelegateJson } from '../../naming/delegator.js';
import { parseNamingArgs } from './naming-args.js';

const usage = `usage: meshwork delegate [--dtab DTAB] [--config FILE [--router LABEL]] [--tree] [--timeout MS] PATH

Explains how PATH delegates: every dentry that matches, every alternative, and what each
namer answered. --config reads the namers and the router's dtab from a linkerd.yaml (the first
router unless --router names one); --dtab is appended after it, as a request dtab would be.
Prints the delegation JSON on one line, or an indented tree with --tree.
`;

export const command: Command = {
  name: 'delegate',
  summary: 'explain how a path delegates through a dtab (the dtab playground)',
  usage,
  async run(args, io) {
    const parsed = await parseNamingArgs(args, io, ['--tree'], usage);
    if (typeof parsed === 'number') return parsed;
    try {
      const tree = await delegate(parsed.dtab, parsed.path, parsed.namers, { timeoutMs: parsed.timeoutMs });
      const json = await delegateTreeToJson(tree, { showTree: showNameTree, timeoutMs: parsed.timeoutMs });
      io.stdout((parsed.flags.has('--tree') ? renderDelegateJson(json) : stringifyDelegateJson(json)) + '\n');
      return 0;
    } catch (e) {
      io.stderr(`delegation failed: ${(e as Error).message}\n`);
      return 1;
    }
  },
};
