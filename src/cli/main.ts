import type { Command, CommandIO } from './command.js';
import { processIO } from './command.js';
import { SERVER_COMMANDS, tuneHeapForServing } from './heap.js';

/**
 * The subcommand registry. Each entry is loaded lazily so that `meshwork dtab fmt` does not
 * pay for loading the router or gRPC.
 */
const commands: Record<string, () => Promise<Command>> = {
  'linkerd': async () => (await import('./commands/linkerd.js')).command,
  'namerd': async () => (await import('./commands/namerd.js')).command,
  'http1-proxy': async () => (await import('./commands/http1-proxy.js')).command,
  'delegate': async () => (await import('./commands/delegate.js')).command,
  'bind': async () => (await import('./commands/bind.js')).command,
  'demo': async () => (await import('./commands/demo.js')).command,
  'dtab': async () => (await import('./commands/dtab.js')).command,
  'profile': async () => (await import('./commands/profile.js')).command,
  'check': async () => (await import('./commands/check.js')).command,
};

export function commandNames(): string[] {
  return Object.keys(commands);
}

async function help(io: CommandIO): Promise<void> {
  const lines = ['usage: meshwork <command> [options]', '', 'commands:'];
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  for (const name of Object.keys(commands)) {
    const cmd = await commands[name]!();
    lines.push(`  ${name.padEnd(width)}  ${cmd.summary}`);
  }
  lines.push('', 'Run `meshwork <command> --help` for the options of one command.');
  io.stdout(lines.join('\n') + '\n');
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help(io);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    io.stderr(`meshwork: unknown command '${name}'; known commands: ${Object.keys(commands).join(', ')}\n`);
    return 2;
  }
  if (SERVER_COMMANDS.has(name)) tuneHeapForServing();
  const cmd = await load();
  // `meshwork dtab get --help` is the subcommand's own help: a command with subcommands answers
  // --help after one itself.
  const helpAt = rest.findIndex((a) => a === '--help' || a === '-h');
  if (helpAt === 0 || (helpAt > 0 && cmd.subcommandHelp !== true)) {
    io.stdout(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n');
    return 0;
  }
  return cmd.run(rest, io);
}
