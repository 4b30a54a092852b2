/**
 * The viewer's script, inlined into the page: it reads the JSON data block
 * and draws it on a canvas. No library: the 2D canvas API is all it needs,
 * and nothing has to be fetched or bundled.
 *
 * Drawing stays proportional to the pixels, not the events: each row's
 * spans and each lane's marks are sorted, the visible ones are found by
 * binary search, and when an item is narrower than a pixel the rest of that
 * pixel column is skipped by another search (so a zoomed-out million events
 * draw as one column each). `window.timeline` exposes the view for tests.
 *
 * Written as plain ES2020 in a string (no backticks or template
 * placeholders inside), so tsc and esbuild leave it as it is.
 */
export const VIEWER_JS = String.raw`
'use strict';
(function () {
  var t0Load = performance.now();
  var phases = {};
  var text = document.getElementById('timeline-data').textContent; phases.text = performance.now() - t0Load;
  var data = JSON.parse(text); phases.parse = performance.now() - t0Load;
  var AXIS_H = 26, LANE_H = 112, LABEL_W = 72;
  var SPAN = 6, MARK = 6, ACC = 8, INTR = 4;
  var KIND = { Task: 0, Hardirq: 1, Softirq: 2, PreemptOff: 3, IrqsOff: 4, MigrateOff: 5 };
  var MK = { Wakeup: 0, Migrate: 1, Exit: 2, Sleep: 3, Access: 4, Report: 5, Print: 6 };
  var SUSPECT = { 1: 'cross-unit access: touched another CPU\'s unit', 2: 'lost update: overwrote a write made after this context read the slot', 4: 'split by a migration: the task moved between this access and its previous one in the same pass' };
  var REGION = { 3: ['preempt disabled', '#f29c38'], 4: ['irqs disabled', '#d9453d'], 5: ['migrate disabled', '#8a5cd6'] };
  var spans = Float64Array.from(data.spans), marks = Float64Array.from(data.marks), acc = Int32Array.from(data.accesses), intr = Int32Array.from(data.interrupts || []);
  var nCpu = data.nrCpus, end = Math.max(data.end, 1);
  var plot = document.getElementById('plot'), canvas = document.getElementById('canvas'), ctx = canvas.getContext('2d');
  var tooltip = document.getElementById('tooltip'), rangeEl = document.getElementById('range');
  var view = { t0: 0, t1: end };
  var highlight = -1, selectedMark = -1;

  // ---- indexes: row ranges of spans, per-lane mark lists ---------------------------------
  function rowKey(i) { var k = spans[i * SPAN + 3]; return k >= 3 ? 100 + k : spans[i * SPAN + 5]; }
  var rows = [];
  for (var c = 0; c < nCpu; c++) rows.push({});
  var nSpans = spans.length / SPAN;
  for (var i = 0; i < nSpans; ) {
    var cpu = spans[i * SPAN], key = rowKey(i), j = i;
    while (j < nSpans && spans[j * SPAN] === cpu && rowKey(j) === key) j++;
    if (rows[cpu]) rows[cpu][key] = { from: i, to: j };
    i = j;
  }
  var nMarks = marks.length / MARK;
  var laneMarks = [], laneAcc = [];
  (function () {
    var counts = new Int32Array(nCpu), accCounts = new Int32Array(nCpu);
    for (var m = 0; m < nMarks; m++) { var c = marks[m * MARK]; if (marks[m * MARK + 2] === MK.Access) accCounts[c]++; else counts[c]++; }
    for (var c2 = 0; c2 < nCpu; c2++) { laneMarks.push(new Int32Array(counts[c2])); laneAcc.push(new Int32Array(accCounts[c2])); counts[c2] = 0; accCounts[c2] = 0; }
    for (var m2 = 0; m2 < nMarks; m2++) {
      var cc = marks[m2 * MARK];
      if (marks[m2 * MARK + 2] === MK.Access) laneAcc[cc][accCounts[cc]++] = m2; else laneMarks[cc][counts[cc]++] = m2;
    }
  })();
  phases.index = performance.now() - t0Load;
  var reportMarks = [], taskFirst = new Map();
  for (var m3 = 0; m3 < nMarks; m3++) if (marks[m3 * MARK + 2] === MK.Report) reportMarks[marks[m3 * MARK + 3]] = m3;
  for (var s = 0; s < nSpans; s++) if (spans[s * SPAN + 3] === KIND.Task) { var tk = spans[s * SPAN + 4]; var f = taskFirst.get(tk); if (f === undefined) taskFirst.set(tk, [s]); else f.push(s); }

  // ---- geometry -----------------------------------------------------------------------------
  function plotW() { return canvas.clientWidth - LABEL_W; }
  function X(t) { return LABEL_W + (t - view.t0) / (view.t1 - view.t0) * plotW(); }
  function T(x) { return view.t0 + (x - LABEL_W) / plotW() * (view.t1 - view.t0); }
  function laneTop(cpu) { return AXIS_H + cpu * LANE_H; }
  var TASK_Y = 58, TASK_H = 30, REGION_Y = 92;
  function depthY(d) { return TASK_Y - 12 - 12 * d; }
  function taskColor(t) { var h = (t * 137.508) % 360; return 'hsl(' + h.toFixed(0) + ',55%,62%)'; }
  function taskName(t) { var k = data.tasks[t]; return k ? k.comm + '-' + k.pid + (k.kthread ? ' [kthread]' : '') : '?'; }
  function insn(ts) { return Math.round(ts / data.nsPerInsn); }
  function fmtT(ts) { return 'insn ' + insn(ts) + ' (' + (ts / 1000).toFixed(3) + ' us)'; }

  // ---- binary searches ------------------------------------------------------------------------
  function firstEndGE(r, t) { var lo = r.from, hi = r.to; while (lo < hi) { var mid = (lo + hi) >> 1; if (spans[mid * SPAN + 2] < t) lo = mid + 1; else hi = mid; } return lo; }
  function firstStartGE(r, t, lo) { var hi = r.to; while (lo < hi) { var mid = (lo + hi) >> 1; if (spans[mid * SPAN + 1] < t) lo = mid + 1; else hi = mid; } return lo; }
  function firstMarkGE(list, t, lo) { var hi = list.length; while (lo < hi) { var mid = (lo + hi) >> 1; if (marks[list[mid] * MARK + 1] < t) lo = mid + 1; else hi = mid; } return lo; }

  // ---- drawing ---------------------------------------------------------------------------------
  function resize() {
    var dpr = window.devicePixelRatio || 1, w = plot.clientWidth, h = AXIS_H + nCpu * LANE_H + 4;
    canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
    canvas.width = Math.floor(w * dpr); canvas.height = Math.floor(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  function eachSpan(r, fn) {
    if (!r) return;
    var i = firstEndGE(r, view.t0);
    while (i < r.to) {
      var o = i * SPAN, st = spans[o + 1];
      if (st > view.t1) break;
      var x0 = Math.max(X(st), LABEL_W), x1 = Math.min(X(spans[o + 2]), LABEL_W + plotW());
      if (x1 - x0 < 1) { fn(i, Math.floor(x0), 1); i = firstStartGE(r, T(Math.floor(x0) + 1), i + 1); }
      else { fn(i, x0, x1 - x0); i++; }
    }
  }
  function eachMark(list, fn) {
    var i = firstMarkGE(list, view.t0, 0), lastCol = -1;
    while (i < list.length) {
      var m = list[i], ts = marks[m * MARK + 1];
      if (ts > view.t1) break;
      var x = X(ts), col = Math.floor(x);
      fn(m, x, col === lastCol);
      lastCol = col;
      i = firstMarkGE(list, T(col + 1), i + 1);
    }
  }
  function drawAxis(w) {
    ctx.fillStyle = '#f0f2f6'; ctx.fillRect(0, 0, w, AXIS_H);
    ctx.fillStyle = '#334'; ctx.font = '11px ui-monospace, monospace';
    var spanI = (view.t1 - view.t0) / data.nsPerInsn, step = Math.pow(10, Math.floor(Math.log10(Math.max(spanI / 8, 1))));
    if (spanI / step > 16) step *= 5; else if (spanI / step > 8) step *= 2;
    var first = Math.ceil(view.t0 / data.nsPerInsn / step) * step;
    for (var v = first; v * data.nsPerInsn <= view.t1; v += step) {
      var x = X(v * data.nsPerInsn);
      ctx.fillRect(x, AXIS_H - 6, 1, 6); ctx.fillText(String(v), x + 2, 14);
    }
    ctx.fillText('instructions', 4, 14);
  }
  function draw() {
    var w = canvas.clientWidth, h = canvas.clientHeight;
    ctx.clearRect(0, 0, w, h);
    drawAxis(w);
    ctx.save(); ctx.beginPath(); ctx.rect(LABEL_W, AXIS_H, w - LABEL_W, h - AXIS_H); ctx.clip();
    for (var c = 0; c < nCpu; c++) drawLane(c);
    drawArrows();
    ctx.restore();
    rangeEl.textContent = 'visible: ' + fmtT(view.t0) + ' .. ' + fmtT(view.t1);
  }
  function drawLane(c) {
    var y0 = laneTop(c), r = rows[c];
    ctx.fillStyle = c % 2 ? '#fbfbfd' : '#ffffff'; ctx.fillRect(LABEL_W, y0, plotW(), LANE_H);
    ctx.fillStyle = '#dde'; ctx.fillRect(LABEL_W, y0 + LANE_H - 1, plotW(), 1);
    ctx.font = '11px system-ui, sans-serif';
    eachSpan(r[0], function (i, x, wd) {
      var t = spans[i * SPAN + 4];
      ctx.fillStyle = taskColor(t); ctx.fillRect(x, y0 + TASK_Y, wd, TASK_H);
      var k = data.tasks[t];
      if (k && k.kthread) { ctx.fillStyle = 'rgba(0,0,0,0.25)'; for (var hx = x; hx < x + wd; hx += 6) ctx.fillRect(hx, y0 + TASK_Y, 2, TASK_H); }
      if (t === highlight) { ctx.strokeStyle = '#000'; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y0 + TASK_Y + 1, wd - 2, TASK_H - 2); }
      if (wd > 50) { ctx.fillStyle = '#111'; ctx.fillText(taskName(t), x + 3, y0 + TASK_Y + 19, wd - 6); }
    });
    for (var d = 1; d <= 3; d++) eachSpan(r[d], function (i, x, wd) {
      var hard = spans[i * SPAN + 3] === KIND.Hardirq;
      ctx.fillStyle = hard ? '#e8684a' : '#e0b23c'; ctx.fillRect(x, y0 + depthY(d), wd, 10);
      if (wd > 60) { ctx.fillStyle = '#111'; ctx.fillText(spanLabel(i), x + 2, y0 + depthY(d) + 10, wd - 4); }
    });
    [3, 4, 5].forEach(function (k, n) {
      eachSpan(r[100 + k], function (i, x, wd) { ctx.fillStyle = REGION[k][1]; ctx.globalAlpha = 0.85; ctx.fillRect(x, y0 + REGION_Y + 5 * n, wd, 4); ctx.globalAlpha = 0.12; ctx.fillRect(x, y0 + TASK_Y, wd, TASK_H); ctx.globalAlpha = 1; });
    });
    // Accesses: one path per colour, filled once, so a lane costs three fills however many columns.
    var lastLabel = -1e9, paths = [new Path2D(), new Path2D(), new Path2D()], labelsAt = [];
    eachMark(laneAcc[c], function (m, x, dup) {
      var a = marks[m * MARK + 3] * ACC, unit = acc[a + 1], bits = acc[a + 7];
      var p = paths[bits ? 0 : acc[a + 3] ? 1 : 2];
      p.moveTo(x - 4, y0 + TASK_Y - 8); p.lineTo(x + 4, y0 + TASK_Y - 8); p.lineTo(x, y0 + TASK_Y); p.closePath();
      if (!dup && x - lastLabel > 34) { lastLabel = x; labelsAt.push(x, unit); }
    });
    ['#c4161c', '#1f3f99', '#6b8fd6'].forEach(function (color, n) { ctx.fillStyle = color; ctx.fill(paths[n]); });
    for (var li = 0; li < labelsAt.length; li += 2) {
      var cross = labelsAt[li + 1] !== c;
      ctx.fillStyle = cross ? '#c4161c' : '#1f3f99'; ctx.font = (cross ? 'bold ' : '') + '10px ui-monospace, monospace';
      ctx.fillText((cross ? '\u2192' : '') + 'cpu' + labelsAt[li + 1], labelsAt[li] + 3, y0 + TASK_Y - 9);
    }
    eachMark(laneMarks[c], function (m, x) {
      var o = m * MARK, kind = marks[o + 2];
      if (kind === MK.Report) {
        var rep = data.reports[marks[o + 3]];
        ctx.fillStyle = rep.kind === 'oops' ? '#000' : rep.kind === 'kasan' ? '#a0147a' : '#d97706';
        ctx.beginPath(); ctx.moveTo(x, y0 + 2); ctx.lineTo(x + 6, y0 + 8); ctx.lineTo(x, y0 + 14); ctx.lineTo(x - 6, y0 + 8); ctx.fill();
      } else if (kind === MK.Sleep) { ctx.fillStyle = '#555'; ctx.font = 'bold 11px system-ui'; ctx.fillText('z', x + 1, y0 + TASK_Y + TASK_H - 2); }
      else if (kind === MK.Exit) { ctx.fillStyle = '#000'; ctx.fillRect(x - 1, y0 + TASK_Y - 2, 2, TASK_H + 4); }
      else if (kind === MK.Wakeup) { ctx.fillStyle = '#1a9e4b'; ctx.beginPath(); ctx.moveTo(x - 4, y0 + TASK_Y + TASK_H + 2); ctx.lineTo(x + 4, y0 + TASK_Y + TASK_H + 2); ctx.lineTo(x, y0 + TASK_Y + TASK_H - 5); ctx.fill(); }
      else if (kind === MK.Print) { ctx.fillStyle = '#0a7d8c'; ctx.fillRect(x - 2, y0 + 18, 4, 8); }
    });
  }
  function center(c) { return laneTop(c) + TASK_Y + TASK_H / 2; }
  function arrow(x0, y0, x1, y1, color, dash) {
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.5; ctx.setLineDash(dash ? [4, 3] : []);
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke(); ctx.setLineDash([]);
    var a = Math.atan2(y1 - y0, x1 - x0);
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x1 - 8 * Math.cos(a - 0.4), y1 - 8 * Math.sin(a - 0.4)); ctx.lineTo(x1 - 8 * Math.cos(a + 0.4), y1 - 8 * Math.sin(a + 0.4)); ctx.fill();
  }
  function drawArrows() {
    for (var c = 0; c < nCpu; c++) eachMark(laneMarks[c], function (m, x) {
      var o = m * MARK, kind = marks[o + 2];
      if (kind === MK.Migrate && marks[o + 4] !== marks[o + 5]) arrow(x, center(marks[o + 4]), x + 10, center(marks[o + 5]), '#2458d6', false);
      if (kind === MK.Wakeup && marks[o + 4] !== c) arrow(x, center(c), x + 6, center(marks[o + 4]), '#1a9e4b', true);
    });
    if (data.breaking >= 0) {
      var b = data.breaking * MARK, bx = X(marks[b + 1]), by = laneTop(marks[b]) + TASK_Y - 4;
      if (bx >= LABEL_W && bx <= LABEL_W + plotW()) {
        ctx.fillStyle = '#c4161c'; ctx.beginPath(); ctx.arc(bx, by, 8, 0, 7); ctx.fill();
        ctx.strokeStyle = '#fff'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(bx - 4, by - 4); ctx.lineTo(bx + 4, by + 4); ctx.moveTo(bx + 4, by - 4); ctx.lineTo(bx - 4, by + 4); ctx.stroke();
      }
    }
    if (selectedMark >= 0) {
      var so = selectedMark * MARK; ctx.strokeStyle = '#000'; ctx.lineWidth = 1; ctx.setLineDash([2, 2]);
      ctx.strokeRect(X(marks[so + 1]) - 7, laneTop(marks[so]) + 1, 14, LANE_H - 2); ctx.setLineDash([]);
    }
  }

  // ---- hit testing and descriptions -------------------------------------------------------------
  function markAt(x, y) {
    var c = Math.floor((y - AXIS_H) / LANE_H);
    if (c < 0 || c >= nCpu) return -1;
    var best = -1, bestD = 6, lists = [laneMarks[c], laneAcc[c]];
    if (data.breaking >= 0 && marks[data.breaking * MARK] === c) lists.push([data.breaking]);
    lists.forEach(function (list) {
      var i = firstMarkGE(list, T(x - 6), 0);
      for (; i < list.length; i++) { var m = list[i], mx = X(marks[m * MARK + 1]); if (mx > x + 6) break; var d = Math.abs(mx - x); if (d < bestD || (d === bestD && m === data.breaking)) { bestD = d; best = m; } }
    });
    return best;
  }
  function spanAt(x, y) {
    var c = Math.floor((y - AXIS_H) / LANE_H); if (c < 0 || c >= nCpu) return -1;
    var ly = y - laneTop(c), t = T(x), key = -1;
    if (ly >= TASK_Y && ly < TASK_Y + TASK_H) key = 0;
    for (var d = 1; d <= 3; d++) if (ly >= depthY(d) && ly < depthY(d) + 10) key = d;
    for (var n = 0; n < 3; n++) if (ly >= REGION_Y + 5 * n && ly < REGION_Y + 5 * n + 5) key = 103 + n;
    var r = rows[c][key]; if (!r) return -1;
    // Two pixels of slack: a handler that ran no guest instruction is a zero-length, one-pixel span.
    var slack = 2 * (view.t1 - view.t0) / plotW(), i = firstEndGE(r, t - slack);
    return i < r.to && spans[i * SPAN + 1] <= t + slack ? i : -1;
  }
  function describeAccess(m) {
    var o = m * MARK, a = marks[o + 3] * ACC, bits = acc[a + 7], lines = [];
    lines.push((acc[a + 3] ? 'write ' : 'read ') + data.vars[acc[a]] + '+' + acc[a + 2] + ' in CPU ' + acc[a + 1] + '\'s unit');
    lines.push('by ' + taskName(acc[a + 5]) + ' on CPU ' + marks[o] + ' at ' + fmtT(marks[o + 1]));
    if (acc[a + 1] !== marks[o]) lines.push('CROSS-UNIT: CPU ' + marks[o] + ' touched CPU ' + acc[a + 1] + '\'s copy');
    lines.push('pc ' + acc[a + 4] + (acc[a + 6] >= 0 ? ' in ' + data.programs[acc[a + 6]].name + ': ' + (data.programs[acc[a + 6]].insns[acc[a + 4]] || '') : ' (kernel)'));
    [1, 2, 4].forEach(function (bit) { if (bits & bit) lines.push('suspect: ' + SUSPECT[bit]); });
    if (m === data.breaking) lines.unshift('THE ACCESS THAT BROKE THE INVARIANT');
    return lines.join('\n');
  }
  function describeMark(m) {
    var o = m * MARK, kind = marks[o + 2], at = ' on CPU ' + marks[o] + ' at ' + fmtT(marks[o + 1]);
    if (kind === MK.Access) return describeAccess(m);
    if (kind === MK.Report) { var r = data.reports[marks[o + 3]]; return r.kind.toUpperCase() + at + '\n' + r.lines.join('\n'); }
    if (kind === MK.Migrate) return 'migrate ' + taskName(marks[o + 3]) + ': CPU ' + marks[o + 4] + ' -> CPU ' + marks[o + 5] + at;
    if (kind === MK.Wakeup) return 'wake-up of ' + taskName(marks[o + 3]) + ' (target CPU ' + marks[o + 4] + ')' + at;
    if (kind === MK.Sleep) return taskName(marks[o + 3]) + ' goes to sleep' + at;
    if (kind === MK.Exit) return taskName(marks[o + 3]) + ' exits' + at;
    return 'print: ' + data.labels[marks[o + 3]] + at;
  }
  // A hardirq span's ref is its entry in data.interrupts: label, interrupted task, program, pc.
  function spanLabel(i) { var k = spans[i * SPAN + 3], ref = spans[i * SPAN + 4]; return k === KIND.Hardirq ? data.labels[intr[ref * INTR]] : data.labels[ref]; }
  function describeInterrupted(n) {
    var o = n * INTR, task = intr[o + 1], program = intr[o + 2], pc = intr[o + 3];
    if (task < 0) return 'interrupted: the idle task';
    if (program < 0 || pc < 0) return 'interrupted ' + taskName(task) + ' in kernel code';
    var p = data.programs[program];
    return 'interrupted ' + taskName(task) + ' at pc ' + pc + ' in ' + p.name + ': ' + (p.insns[pc] || '') + (p.source[pc] ? '\n  ' + p.source[pc] : '');
  }
  function describeSpan(i) {
    var o = i * SPAN, k = spans[o + 3], range = '\n' + fmtT(spans[o + 1]) + ' .. ' + fmtT(spans[o + 2]) + ' on CPU ' + spans[o];
    if (k === KIND.Task) return taskName(spans[o + 4]) + range;
    if (k === KIND.Hardirq) return 'hardirq ' + spanLabel(i) + range + '\n' + describeInterrupted(spans[o + 4]);
    if (k === KIND.Softirq) return spanLabel(i) + range;
    return REGION[k][0] + range;
  }

  // ---- side panel ---------------------------------------------------------------------------------
  var selectedEl = document.getElementById('selected');
  function listing(program, pc) {
    var p = data.programs[program], pre = document.createElement('pre'); pre.className = 'asm';
    var from = Math.max(0, pc - 6), to = Math.min(p.insns.length, pc + 7);
    pre.appendChild(document.createTextNode(p.name + ':\n'));
    for (var i = from; i < to; i++) {
      if (p.insns[i] === '') continue;
      var line = document.createElement('span');
      if (i === pc) line.className = 'here';
      line.textContent = (i === pc ? '=> ' : '   ') + String(i).padStart(4) + ': ' + p.insns[i] + (p.source[i] ? '    // ' + p.source[i] : '') + '\n';
      pre.appendChild(line);
    }
    return pre;
  }
  function select(m) {
    selectedMark = m;
    selectedEl.innerHTML = '';
    var msg = document.createElement('pre'); msg.id = 'selected-message'; msg.textContent = describeMark(m); selectedEl.appendChild(msg);
    var o = m * MARK, kind = marks[o + 2];
    if (kind === MK.Access) { var a = marks[o + 3] * ACC; if (acc[a + 6] >= 0) selectedEl.appendChild(listing(acc[a + 6], acc[a + 4])); }
    if (kind === MK.Report) { var r = data.reports[marks[o + 3]]; if (r.program >= 0 && r.pc >= 0) selectedEl.appendChild(listing(r.program, r.pc)); }
    draw();
  }
  /** A span in the side panel; a hardirq's with the listing around the instruction it interrupted. */
  function selectSpan(i) {
    selectedMark = -1;
    selectedEl.innerHTML = '';
    var msg = document.createElement('pre'); msg.id = 'selected-message'; msg.textContent = describeSpan(i); selectedEl.appendChild(msg);
    if (spans[i * SPAN + 3] === KIND.Hardirq) { var n = spans[i * SPAN + 4] * INTR; if (intr[n + 2] >= 0 && intr[n + 3] >= 0) selectedEl.appendChild(listing(intr[n + 2], intr[n + 3])); }
    draw();
  }

  // ---- interaction ------------------------------------------------------------------------------------
  function setView(t0, t1) {
    var minSpan = data.nsPerInsn * 4, w = Math.max(t1 - t0, minSpan);
    if (w > end) { t0 = 0; w = end; }
    t0 = Math.min(Math.max(t0, 0), end - w);
    view.t0 = t0; view.t1 = t0 + w; draw();
  }
  function zoom(factor, atX) {
    var t = T(atX === undefined ? LABEL_W + plotW() / 2 : atX), w = (view.t1 - view.t0) * factor;
    var frac = (t - view.t0) / (view.t1 - view.t0);
    setView(t - frac * w, t - frac * w + w);
  }
  function focus(ts, cpu) {
    var w = Math.min(end, Math.max(data.nsPerInsn * 200, (view.t1 - view.t0) / 8));
    setView(ts - w / 2, ts + w / 2);
    plot.scrollTop = Math.max(0, laneTop(cpu) - AXIS_H - 40);
  }
  plot.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = canvas.getBoundingClientRect();
    if (e.shiftKey) { var d = (view.t1 - view.t0) * e.deltaY / 1000; setView(view.t0 + d, view.t1 + d); }
    else zoom(e.deltaY > 0 ? 1.25 : 0.8, e.clientX - r.left);
  }, { passive: false });
  var drag = null;
  plot.addEventListener('mousedown', function (e) { drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false }; });
  window.addEventListener('mouseup', function (e) {
    plot.classList.remove('dragging');
    if (drag && !drag.moved) {
      var r = canvas.getBoundingClientRect(), m = markAt(e.clientX - r.left, e.clientY - r.top);
      if (m >= 0) select(m);
      else { var sp = spanAt(e.clientX - r.left, e.clientY - r.top); if (sp >= 0) selectSpan(sp); }
    }
    drag = null;
  });
  window.addEventListener('mousemove', function (e) {
    var r = canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    if (drag && Math.abs(e.clientX - drag.x) > 3) {
      drag.moved = true; plot.classList.add('dragging');
      var dt = (e.clientX - drag.x) / plotW() * (drag.t1 - drag.t0);
      setView(drag.t0 - dt, drag.t1 - dt);
      return;
    }
    var text = '';
    if (x >= LABEL_W && y >= AXIS_H && x <= r.width && y <= r.height) {
      var m = markAt(x, y);
      if (m >= 0) text = describeMark(m);
      else { var s = spanAt(x, y); if (s >= 0) text = describeSpan(s); }
    }
    tooltip.style.display = text ? 'block' : 'none';
    tooltip.textContent = text;
    tooltip.style.left = Math.min(e.clientX + 14, window.innerWidth - 430) + 'px';
    tooltip.style.top = (e.clientY + 14) + 'px';
  });
  window.addEventListener('keydown', function (e) {
    if (e.target && e.target.tagName === 'INPUT') return;
    var w = view.t1 - view.t0;
    if (e.key === '+' || e.key === '=') zoom(0.5); else if (e.key === '-') zoom(2);
    else if (e.key === 'ArrowLeft') setView(view.t0 - w / 4, view.t1 - w / 4);
    else if (e.key === 'ArrowRight') setView(view.t0 + w / 4, view.t1 + w / 4);
  });
  document.getElementById('zoom-in').onclick = function () { zoom(0.5); };
  document.getElementById('zoom-out').onclick = function () { zoom(2); };
  document.getElementById('zoom-reset').onclick = function () { setView(0, end); };
  window.addEventListener('resize', resize);

  // ---- search: tasks, CPUs, variables, symbols, report text ---------------------------------------
  var results = document.getElementById('results'), countEl = document.getElementById('result-count');
  function addResult(label, fn) { var li = document.createElement('li'); li.textContent = label; li.onclick = fn; results.appendChild(li); }
  function search(q) {
    results.innerHTML = ''; highlight = -1; q = q.trim().toLowerCase();
    var n = 0, MAX = 200;
    if (q !== '') {
      var cm = /^cpu\s*(\d+)$/.exec(q);
      if (cm && +cm[1] < nCpu) { n++; addResult('CPU ' + cm[1], function () { plot.scrollTop = laneTop(+cm[1]) - AXIS_H; }); }
      data.tasks.forEach(function (k, t) {
        if (n >= MAX || !(taskName(t).toLowerCase().indexOf(q) >= 0 || String(k.pid) === q)) return;
        var list = taskFirst.get(t) || []; n++;
        if (highlight < 0) highlight = t;
        addResult('task ' + taskName(t) + ': ' + list.length + ' spans', function () {
          highlight = t;
          if (list.length > 0) { var o = list[0] * SPAN, last = list[list.length - 1] * SPAN; setView(spans[o + 1], Math.max(spans[last + 2], spans[o + 1] + data.nsPerInsn * 10)); }
        });
      });
      data.vars.forEach(function (v, vi) {
        if (n >= MAX || v.toLowerCase().indexOf(q) < 0) return;
        for (var m = 0; m < nMarks && n < MAX; m++) if (marks[m * MARK + 2] === MK.Access && acc[marks[m * MARK + 3] * ACC] === vi) { n++; (function (mm) { addResult('first access to ' + v + ' (CPU ' + marks[mm * MARK] + ')', function () { focus(marks[mm * MARK + 1], marks[mm * MARK]); select(mm); }); })(m); break; }
      });
      data.programs.forEach(function (p) {
        if (n < MAX && p.name.toLowerCase().indexOf(q) >= 0) { n++; addResult('program ' + p.name + ' (' + p.insns.length + ' insns)', function () {}); }
      });
      data.reports.forEach(function (r, ri) {
        if (n >= MAX || r.lines.join('\n').toLowerCase().indexOf(q) < 0) return;
        n++; addResult(r.kind + ' on CPU ' + r.cpu + ': ' + r.lines[0], function () { focus(r.ts, r.cpu); select(reportMarks[ri]); });
      });
    }
    countEl.textContent = q === '' ? '' : n + ' result' + (n === 1 ? '' : 's');
    draw();
  }
  var searchEl = document.getElementById('search');
  searchEl.addEventListener('input', function () { search(searchEl.value); });

  // ---- lane labels and the exposed API ----------------------------------------------------------------
  for (var lc = 0; lc < nCpu; lc++) {
    var lab = document.createElement('div'); lab.className = 'lane-label'; lab.dataset.cpu = String(lc);
    lab.textContent = 'CPU ' + lc + (data.lost[lc] ? ' (' + data.lost[lc] + ' lost)' : '');
    lab.style.top = laneTop(lc) + 'px'; lab.style.height = LANE_H + 'px';
    plot.appendChild(lab);
  }
  phases.pre = performance.now() - t0Load;
  resize();
  phases.draw = performance.now() - t0Load;
  window.timeline = {
    data: data,
    view: function () { return { t0: view.t0, t1: view.t1 }; },
    setView: setView,
    select: select,
    markPosition: function (m) { var r = canvas.getBoundingClientRect(); return { x: r.left + X(marks[m * MARK + 1]), y: r.top + laneTop(marks[m * MARK]) + TASK_Y - 4, cpu: marks[m * MARK], ts: marks[m * MARK + 1] }; },
    focus: focus,
    selectSpan: selectSpan,
    spanPosition: function (i) { var r = canvas.getBoundingClientRect(), o = i * SPAN, k = spans[o + 3], d = spans[o + 5]; var y = k === KIND.Task ? TASK_Y + TASK_H / 2 : k >= 3 ? REGION_Y + 5 * (k - 3) + 2 : depthY(d) + 5; return { x: r.left + (Math.max(X(spans[o + 1]), LABEL_W) + Math.min(X(spans[o + 2]), LABEL_W + plotW())) / 2, y: r.top + laneTop(spans[o]) + y }; },
    loadMs: performance.now() - t0Load,
    phases: phases,
    ready: true,
  };
})();
`;
