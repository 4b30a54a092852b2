/** The viewer's stylesheet, inlined into the page. */
export const VIEWER_CSS = `
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; display: flex; flex-direction: column; height: 100vh; }
header { display: flex; gap: 8px; align-items: center; padding: 6px 10px; background: #1d2330; color: #fff; }
header h1 { font-size: 15px; margin: 0 12px 0 0; font-weight: 600; }
header input { width: 240px; padding: 3px 6px; }
header button { padding: 2px 8px; }
#range { font-family: ui-monospace, monospace; font-size: 12px; margin-left: auto; }
main { display: flex; flex: 1; min-height: 0; }
#plot { position: relative; flex: 1; overflow-y: auto; overflow-x: hidden; background: #fff; cursor: grab; }
#plot.dragging { cursor: grabbing; }
canvas { display: block; }
.lane-label { position: absolute; left: 0; width: 72px; padding: 4px 6px; font-weight: 600; background: #eef0f4; border-right: 1px solid #ccd; pointer-events: none; }
#tooltip { position: fixed; display: none; max-width: 420px; padding: 6px 8px; background: #1d2330; color: #fff; border-radius: 4px; font-size: 12px; white-space: pre-wrap; pointer-events: none; z-index: 10; }
aside { width: 420px; overflow-y: auto; padding: 8px 12px; border-left: 1px solid #ccd; background: #fafbfc; }
aside h2 { font-size: 13px; margin: 12px 0 4px; text-transform: uppercase; color: #556; }
pre { white-space: pre-wrap; font: 12px/1.35 ui-monospace, monospace; margin: 0; background: #fff; border: 1px solid #dde; padding: 6px; }
#results { list-style: none; padding: 0; margin: 0; max-height: 180px; overflow-y: auto; }
#results li { padding: 2px 4px; cursor: pointer; border-bottom: 1px solid #eee; }
#results li:hover { background: #e8eefc; }
.asm .here { background: #ffd7d7; font-weight: 700; }
.legend span { display: inline-block; margin: 0 10px 2px 0; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
.lost { color: #b00; }
`;
