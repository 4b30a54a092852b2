/**
 * The timeline as one self-contained HTML page: the data as a JSON block,
 * the viewer's script and stylesheet inline, nothing fetched, so the file
 * opens from disk in any browser and can be mailed or attached to a bug.
 *
 * @example
 * writeFileSync('out.html', timelineHtml(extractTimeline(k, info)));
 */

import type { TimelineData } from './timeline-data.ts';
import { VIEWER_JS } from './viewer-script.ts';
import { VIEWER_CSS } from './viewer-style.ts';

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON that cannot end its <script> block: every `<` escaped. */
const scriptJson = (data: TimelineData): string => JSON.stringify(data).replace(/</g, '\\u003c');

const LEGEND: readonly [string, string][] = [
  ['#e8684a', 'hardirq'],
  ['#e0b23c', 'softirq'],
  ['#f29c38', 'preempt disabled'],
  ['#d9453d', 'irqs disabled'],
  ['#8a5cd6', 'migrate disabled'],
  ['#1f3f99', 'write (label: unit)'],
  ['#6b8fd6', 'read'],
  ['#c4161c', 'suspect / breaking access'],
  ['#d97706', 'DEBUG_PREEMPT'],
  ['#a0147a', 'KASAN'],
  ['#2458d6', 'migration'],
  ['#1a9e4b', 'wake-up'],
];

/** The whole page for `data`. The same data gives the same bytes. */
export function timelineHtml(data: TimelineData): string {
  const title = escapeHtml(`${data.title}: timeline`);
  const legend = LEGEND.map(
    ([c, what]) => `<span><i style="background:${c}"></i>${what}</span>`,
  ).join('');
  const lost = data.lost.some((n) => n > 0)
    ? `<p class="lost">The trace rings overwrote ${data.lost.reduce((a, b) => a + b, 0)} events: the start of the run is missing.</p>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>${VIEWER_CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.title)}</h1>
<input id="search" type="search" placeholder="search: task, pid, cpu N, variable, symbol, report" aria-label="search">
<span id="result-count"></span>
<button id="zoom-in" title="zoom in (+)">+</button>
<button id="zoom-out" title="zoom out (-)">&minus;</button>
<button id="zoom-reset" title="whole run">whole run</button>
<span id="range"></span>
</header>
<main>
<div id="plot"><canvas id="canvas"></canvas><div id="tooltip" role="tooltip"></div></div>
<aside>
<h2>Selected</h2>
<div id="selected"><p>Click a mark: an access, the red &#x2716; (the access that broke the invariant) or a report.</p></div>
<h2>Search results</h2>
<ul id="results"></ul>
<h2>Run report</h2>
${lost}<pre id="report">${escapeHtml(data.report)}</pre>
<h2>Replay</h2>
<pre id="replay">${escapeHtml(data.command)}</pre>
<h2>Legend</h2>
<div class="legend">${legend}<span>hatched: kthread</span><span>z: sleep</span></div>
</aside>
</main>
<script id="timeline-data" type="application/json">${scriptJson(data)}</script>
<script>${VIEWER_JS}</script>
</body>
</html>
`;
}
