/**
 * Watching files for the file-based parts of naming (the io.l5d.fs namer, the io.l5d.fs
 * interpreter's dtab file): fs.watch while somebody observes, plus a bounded poll (fs.watch
 * can miss renames and events on some file systems) so a change is seen within a second.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Closable } from '../naming/contracts.js';

/** The fallback poll period; fs.watch usually reports sooner. */
export const FS_POLL_MS = 400;

/**
 * Runs `refresh` on fs.watch events for `dir` (optionally only for `name`) and on a poll.
 * Returns what to close.
 */
export function watchDir(dir: string, name: string | undefined, refresh: () => void): Closable {
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, changed) => {
      if (name === undefined || changed === null || changed === name) refresh();
    });
    // A watched directory that disappears reports an error; the poll carries on.
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined;
    });
  } catch {
    watcher = undefined;
  }
  const timer = setInterval(refresh, FS_POLL_MS);
  timer.unref();
  return {
    close: () => {
      clearInterval(timer);
      watcher?.close();
    },
  };
}

/** A sequence of async reads where only the newest result counts. */
export function reader<T>(read: () => Promise<T>, update: (v: T) => void): { run: () => void; stop: () => void } {
  let stopped = false;
  let inFlight = false;
  let again = false;
  const run = (): void => {
    if (stopped) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    void read().then(
      (v) => {
        inFlight = false;
        if (stopped) return;
        update(v);
        if (again) {
          again = false;
          run();
        }
      },
      () => {
        inFlight = false;
      },
    );
  };
  return {
    run,
    stop: () => {
      stopped = true;
    },
  };
}
