/**
 * `io.l5d.fs` interpreter: binds through the linker's own namers, like `default`, under a dtab
 * read from `dtabFile` and watched, so the file can be edited live. A request binds with
 * `file dtab ++ router dtab ++ request dentries` (the router's and the request's entries come
 * later and win, as Linkerd's ConfiguredDtabNamer prepends the configured dtab).
 *
 * The file is read while some name is bound through it; a changed text counts once a second
 * read 30 ms later agrees (an editor that truncates and then writes must not route, even for a
 * moment, on the empty file in between). Until it has been read and parsed once,
 * binding fails with the reason; after that, a file that goes missing or stops parsing keeps
 * the last good dtab (each new problem is reported once through `log`) until it is fixed.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Activity, PENDING, failed, ok, stateEquals } from '../naming/activity.js';
import type { Activity as ActivityContract, ActivityState, BoundName } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import { reader, watchDir } from '../namers/fs-watch.js';
import { InterpreterError, interpreterConfigError, type ConfigWhere } from './errors.js';
import type { RemoteInterpreter } from './index.js';

export interface DtabFileDeps {
  /** Parses a dtab (the naming parser's `readDtab`). */
  readonly readDtab: (text: string) => Dtab;
  /** Binds with the linker's namers (the `default` interpreter). */
  readonly bind: (dtab: Dtab, path: Path) => ActivityContract<NameTree<BoundName>>;
  /** Explains a delegation with the linker's namers (the dtab playground). */
  readonly explain?: (dtab: Dtab, path: Path) => Promise<unknown>;
  /** Where problems with the file are reported once the first dtab was read (default stderr). */
  readonly log?: (line: string) => void;
  /** Relative `dtabFile` paths are resolved against this (default the working directory). */
  readonly baseDir?: string;
}

const dtabEquals = (a: Dtab, b: Dtab): boolean => a === b || a.show() === b.show();

/** How long a changed dtab file must stay the same before it is read as the new dtab. */
const SETTLE_MS = 30;

/**
 * Linkerd's ConfiguredDtabNamer: the local namers under a dtab that comes from elsewhere (a
 * file, Consul), prepended to the router's dtab and the request's dentries.
 *
 * The source's dtab is followed with one rule for every source: until it has given a dtab, its
 * failures fail binding (with the reason); after that, a source that fails (a file that stops
 * parsing, a typo stored in Consul, the source unreachable) keeps the last good dtab and each
 * new problem is reported once through `log`, so a bad edit never takes routing down.
 */
export class ConfiguredDtabInterpreter implements RemoteInterpreter {
  private dtab: Activity<Dtab> = Activity.pending<Dtab>();
  private lastProblem = '';

  constructor(
    protected readonly deps: Pick<DtabFileDeps, 'bind' | 'explain' | 'log'>,
    /** The configured dtab over time; null: the subclass calls `follow` once it can make it. */
    source: Activity<Dtab> | null,
    private readonly onClose: () => void = () => undefined,
  ) {
    if (source !== null) this.follow(source);
  }

  protected follow(source: Activity<Dtab>): void {
    const log = this.deps.log ?? ((line: string) => void process.stderr.write(line + '\n'));
    let last: Dtab | undefined;
    const states = new AsyncVar<ActivityState<Dtab>>(
      PENDING,
      (update) =>
        source.states.observe((s) => {
          if (s.type === 'ok') {
            last = s.value;
            this.lastProblem = '';
            update(s);
          } else if (last === undefined) update(s);
          else if (s.type === 'failed' && s.error.message !== this.lastProblem) {
            this.lastProblem = s.error.message;
            log(`${s.error.message}; routing stays on the last dtab read from it`);
          }
        }),
      stateEquals(dtabEquals),
    );
    this.dtab = new Activity(states);
  }

  bind(dtab: Dtab, path: Path): Activity<NameTree<BoundName>> {
    return this.dtab.flatMap((configured) => this.deps.bind(configured.concat(dtab), path));
  }

  /** The configured dtab once it is known (rejects with the reason, or after `timeoutMs`). */
  configuredDtab(timeoutMs: number): Promise<Dtab> {
    return this.dtab.toPromise(timeoutMs);
  }

  async delegate(dtab: Dtab, path: Path, timeoutMs = 2000): Promise<unknown> {
    const explain = this.deps.explain;
    if (explain === undefined) throw new Error('no delegation explainer');
    const configured = await this.dtab.toPromise(timeoutMs);
    return explain(configured.concat(dtab), path);
  }

  close(): void {
    this.onClose();
  }
}

export class DtabFileInterpreter extends ConfiguredDtabInterpreter {
  readonly file: string;
  /** The text last read (a changed text is read twice before it counts). */
  private lastText: string | undefined;

  constructor(config: Readonly<Record<string, unknown>>, private readonly fileDeps: DtabFileDeps, where?: ConfigWhere) {
    super(fileDeps, null);
    const raw = config['dtabFile'];
    if (typeof raw !== 'string' || raw === '') throw interpreterConfigError(where, 'dtabFile', raw, 'the path of a file holding a dtab');
    this.file = resolve(fileDeps.baseDir ?? process.cwd(), raw);
    const states = new AsyncVar<ActivityState<Dtab>>(
      PENDING,
      (update) => {
        const r = reader(() => this.read(), update);
        const w = watchDir(dirname(this.file), basename(this.file), r.run);
        r.run();
        return {
          close: () => {
            r.stop();
            w.close();
          },
        };
      },
      stateEquals(dtabEquals),
    );
    this.follow(new Activity(states));
  }

  /** The file's dtab, or why there is none. */
  private async read(): Promise<ActivityState<Dtab>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
      // An editor that truncates and then writes shows a half-written (often empty) file for
      // a moment: a changed text counts once a second read, a little later, agrees with it.
      for (let i = 0; i < 5 && text !== this.lastText; i++) {
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const again = await readFile(this.file, 'utf8');
        if (again === text) break;
        text = again;
      }
    } catch (e) {
      return failed(new InterpreterError('MESH_ERR_INTERPRETER_DTAB', `io.l5d.fs interpreter: cannot read dtabFile ${this.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
    }
    this.lastText = text;
    try {
      return ok(this.fileDeps.readDtab(text));
    } catch (e) {
      return failed(new InterpreterError('MESH_ERR_INTERPRETER_DTAB', `io.l5d.fs interpreter: dtabFile ${this.file} is not a valid dtab: ${(e as Error).message}`));
    }
  }

}
