/**
 * The one place stores turn stored text into a Dtab and back, so the switch to the naming
 * core's parser (`readDtab` in src/naming) is a change to this file only.
 */
export interface Dtab {
  show(): string;
}

/**
 * Stand-in until src/naming exports `readDtab`: keeps canonical dtab text and checks only the
 * `prefix=>tree` shape of each dentry.
 */
class TextDtab implements Dtab {
  constructor(private readonly text: string) {}
  show(): string {
    return this.text;
  }
}

const DENTRY = /^(\/[^\s=]*)\s*=>\s*(\S(?:.*\S)?)$/s;

export function readStoredDtab(text: string): Dtab {
  const out: string[] = [];
  for (const raw of text.split(';')) {
    const d = raw.trim();
    if (d === '') continue;
    const m = DENTRY.exec(d);
    if (m === null) throw new Error(`'=>' dentry expected but ${JSON.stringify(d)} found`);
    out.push(`${m[1]}=>${m[2]!.replace(/\s+/g, ' ')}`);
  }
  return new TextDtab(out.join(';'));
}

export function showDtab(dtab: Dtab): string {
  return dtab.show();
}

/**
 * Dentries of a dtab as `{prefix, dst}` text pairs (the namerd JSON and k8s DTab shape). The
 * printed form never holds `;` or `=>` inside a path or tree, so splitting it is exact.
 */
export function dentriesOf(dtab: Dtab): { prefix: string; dst: string }[] {
  const text = dtab.show();
  if (text === '') return [];
  return text.split(';').map((d) => {
    const i = d.indexOf('=>');
    return { prefix: d.slice(0, i), dst: d.slice(i + 2) };
  });
}

export function dtabFromDentries(dentries: readonly { prefix: string; dst: string }[]): Dtab {
  return readStoredDtab(dentries.map((d) => `${d.prefix}=>${d.dst}`).join(';'));
}
