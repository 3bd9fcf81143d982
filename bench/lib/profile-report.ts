/** The markdown `npm run bench:profile` prints for one profile (src/admin/profile-summary.ts). */
import type { ProfileSummary } from '../../src/admin/profile-summary.js';

export interface ProfileRecord extends ProfileSummary {
  date: string;
  commit: string;
  candidate: string;
  layout: string;
  seconds: number;
  requests: number;
  processCpuUsPerReq: number;
  wrkRps: number;
}

export function profileMarkdown(r: ProfileRecord): string {
  const f2 = (x: number) => x.toFixed(2);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const wall = r.requests > 0 ? (r.profileMs * 1000) / r.requests : 0;
  const lines = [
    `### Profile ${r.date} — commit ${r.commit}, ${r.candidate}`,
    '',
    `${r.layout}; wrk 1 thread x 50 conns throughout (${Math.round(r.wrkRps).toLocaleString('en-US')} req/s over its run); ` +
      `the profile covers ${r.seconds} s and ${r.requests.toLocaleString('en-US')} requests: ${f2(wall)} µs of wall time per request, ` +
      `the process used ${f2(r.processCpuUsPerReq)} µs of CPU per request (/proc, user + system).`,
    '',
    '| part of the process | µs/req | share |',
    '|---|---|---|',
    ...r.parts.map((p) => `| ${p.part} | ${f2(p.usPerReq)} | ${pct(p.share)} |`),
    '',
    '| function (self time) | where | part | µs/req | share |',
    '|---|---|---|---|---|',
    ...r.top.map((t) => `| ${t.fn.replace(/\|/g, '\\|')} | ${t.where} | ${t.part} | ${f2(t.usPerReq)} | ${pct(t.share)} |`),
  ];
  return lines.join('\n') + '\n';
}
