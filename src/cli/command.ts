/** A `meshwork` subcommand: one file in src/cli/commands, one line in src/cli/main.ts. */
export interface Command {
  name: string;
  /** One line for `meshwork --help`. */
  summary: string;
  /** Full usage text for `meshwork <name> --help`. */
  usage: string;
  /** `--help` after a subcommand (`meshwork dtab get --help`) is passed to `run`, which prints that subcommand's help. */
  subcommandHelp?: boolean;
  /** Returns the process exit code (0 ok, 1 runtime failure, 2 bad usage or bad input). */
  run(args: string[], io: CommandIO): Promise<number>;
}

export interface CommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export const processIO: CommandIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};
