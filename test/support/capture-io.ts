/** A CommandIO that keeps what a `meshwork` command prints, for tests that call `main()`. */
import type { CommandIO } from '../../src/cli/command.js';

export function captureIO(): { out: { stdout: string; stderr: string }; io: CommandIO } {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (s: string) => (out.stdout += s), stderr: (s: string) => (out.stderr += s) } };
}
