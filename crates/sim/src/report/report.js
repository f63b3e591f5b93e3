// report.html's heap viewer: steps through the recorded states of a run.
//
// The data is the JSON block #report-data, written by crates/sim/src/report.rs:
// { runs: [ { allocator, total_ops, peak_footprint, peak_rss, notes,
//             states: [ { ops, op, phase, live, allocated, footprint, rss, mapped,
//                         page_tables, vma_count, brk, heap, heap_merged_from, maps,
//                         maps_merged_from, vmas, vmas_more, free } ] } ] }
// A block is [offset or address, size, kind code, program id or -1]. Everything is
// drawn here, by hand, as inline SVG: no library, nothing fetched.
//
// Opened as report.html#NAME:K, it shows allocator NAME's K-th state. Opened as
// report.html#test, the page also drives itself (moves the slider, presses
// an arrow key, jumps to the peaks), checks that the view followed, and writes the
// outcome into <body data-ok="1"> or <html data-error="...">, for a headless browser.
(function () {
  'use strict';

  // Kind codes, in the order of report.rs's kind_code, with the charts' colours
  // (Okabe-Ito, as crates/plot uses them).
  var KINDS = [
    { name: 'used (brk heap)', colour: '#0072B2', ink: '#fff' },
    { name: 'free', colour: '#D55E00', ink: '#fff' },
    { name: 'cached (not coalesced)', colour: '#E69F00', ink: '#222' },
    { name: 'top chunk', colour: '#56B4E9', ink: '#222' },
    { name: 'allocator metadata', colour: '#999999', ink: '#222' },
    { name: 'used (own mapping)', colour: '#009E73', ink: '#fff' }
  ];
  var SVG = 'http://www.w3.org/2000/svg';
  var WIDTH = 720;      // pixels of address per row
  var LEFT = 78;        // room for the row labels
  var ROWS = 8;         // rows of the brk heap strip
  var ROW_H = 28;
  var GAP = 6;

  var data = JSON.parse(document.getElementById('report-data').textContent);
  var slider = document.getElementById('slider');
  var runIndex = 0;
  var current = 0;
  var scales = data.runs.map(scaleOf);

  function $(id) { return document.getElementById(id); }

  // Bytes as the terminal table prints them: 512 B, 4.0 KiB, 1.5 MiB.
  function bytes(n) {
    if (n < 1024) { return n + ' B'; }
    var units = ['KiB', 'MiB', 'GiB', 'TiB'];
    var v = n / 1024, u = 0;
    while (v >= 1024 && u + 1 < units.length) { v /= 1024; u += 1; }
    return v.toFixed(1) + ' ' + units[u];
  }

  function count(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  function hex(n) { return '0x' + n.toString(16); }

  function el(name, attrs, text) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); }
    }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function html(name, text, cls) {
    var e = document.createElement(name);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }

  // One scale per run, so that stepping shows the heap grow and shrink: the brk
  // strip spans the largest heap of the run, or, when the top chunk takes more than
  // half of it, a little more than the blocks below the top chunk (zoomed, as the
  // heap-map chart does); the mapping strip fits the most mapped bytes of the run.
  function scaleOf(run) {
    var full = 0, used = 0, mapped = 0;
    run.states.forEach(function (s) {
      var top = Infinity;
      full = Math.max(full, s.brk);
      s.heap.forEach(function (b) {
        full = Math.max(full, b[0] + b[1]);
        if (b[2] === 3) { top = Math.min(top, b[0]); }
      });
      s.heap.forEach(function (b) {
        if (b[2] !== 3 && b[0] < top) { used = Math.max(used, b[0] + b[1]); }
      });
      var m = 0;
      s.maps.forEach(function (b) { m += b[1]; });
      mapped = Math.max(mapped, m);
    });
    var zoomed = used > 0 && full > 2 * used;
    return {
      shown: Math.max(1, zoomed ? Math.ceil(used * 1.1) : full),
      zoomed: zoomed,
      full: full,
      mapped: mapped
    };
  }

  function tooltip(b, where) {
    var what = KINDS[b[2]].name;
    var id = b[3] >= 0 ? 'block ' + b[3] + ' · ' : '';
    return id + what + ' · ' + bytes(b[1]) + ' at ' + where;
  }

  // Draws one rectangle with its tooltip and, when it fits, its block id.
  function block(svg, x, y, w, h, b, where) {
    var k = KINDS[b[2]];
    var g = el('g');
    var r = el('rect', {
      x: x.toFixed(1), y: y, width: Math.max(1, w).toFixed(1), height: h,
      fill: k.colour
    });
    if (w >= 4) { r.setAttribute('stroke', '#fff'); r.setAttribute('stroke-width', '1'); }
    r.appendChild(el('title', {}, tooltip(b, where)));
    g.appendChild(r);
    if (b[3] >= 0) {
      var label = String(b[3]);
      if (w >= 7.5 * label.length + 6) {
        g.appendChild(el('text', {
          x: (x + w / 2).toFixed(1), y: y + h / 2 + 4, 'text-anchor': 'middle',
          'font-size': 12, fill: k.ink
        }, label));
      }
    }
    svg.appendChild(g);
  }

  function heapStrip(state, scale) {
    if (scale.full === 0) {
      return html('p', 'The brk heap was never used in this run: every block lives in a mapping.', 'note');
    }
    // A power of two per row (at least 16 bytes, the usual alignment), so the row
    // offsets are round numbers.
    var per = 16;
    while (per * ROWS < scale.shown) { per *= 2; }
    var rows = Math.min(ROWS, Math.max(1, Math.ceil(scale.shown / per)));
    var height = rows * (ROW_H + GAP);
    var svg = el('svg', {
      width: LEFT + WIDTH + 4, height: height,
      viewBox: '0 0 ' + (LEFT + WIDTH + 4) + ' ' + height, role: 'img',
      'aria-label': 'brk heap at this op'
    });
    for (var r = 0; r < rows; r++) {
      var y = r * (ROW_H + GAP);
      svg.appendChild(el('rect', {
        x: LEFT, y: y, width: WIDTH, height: ROW_H, fill: '#f4f4f4'
      }));
      svg.appendChild(el('text', {
        x: LEFT - 6, y: y + ROW_H / 2 + 4, 'text-anchor': 'end', 'font-size': 12,
        fill: '#555'
      }, '+' + bytes(r * per).replace('.0 ', ' ')));
    }
    state.heap.forEach(function (b) {
      var s = b[0], e = Math.min(b[0] + b[1], rows * per);
      for (var row = Math.floor(s / per); row * per < e && row < rows; row++) {
        var a = Math.max(s, row * per), z = Math.min(e, (row + 1) * per);
        block(svg, LEFT + (a - row * per) / per * WIDTH, row * (ROW_H + GAP),
          (z - a) / per * WIDTH, ROW_H, b, 'heap + ' + hex(b[0]));
      }
    });
    // The program break: a black bar where the heap ends.
    if (state.brk <= rows * per) {
      var row = Math.min(rows - 1, Math.floor(state.brk / per));
      var x = LEFT + (state.brk - row * per) / per * WIDTH;
      svg.appendChild(el('rect', {
        x: (x - 1).toFixed(1), y: row * (ROW_H + GAP) - 3, width: 3, height: ROW_H + 6,
        fill: '#222'
      }, undefined));
    }
    var caption = 'Each row is ' + bytes(per) + ' of addresses, from the heap start; ' +
      'the black bar is the program break (+' + bytes(state.brk) + ').';
    if (scale.zoomed) {
      caption = 'Zoomed to the blocks below the top chunk: each row is ' + bytes(per) +
        '; the top chunk goes on to the break at +' + bytes(state.brk) +
        ' (at most +' + bytes(scale.full) + ' in this run).';
    }
    var box = html('div');
    box.appendChild(svg);
    box.appendChild(html('p', caption, 'note'));
    return box;
  }

  // Mappings lie far apart in the address space: they are drawn side by side in
  // address order, each as wide as its share of the run's most mapped bytes.
  function mapStrip(state, scale) {
    var total = WIDTH * 2;
    var x = 0, row = 0, items = [];
    state.maps.forEach(function (b) {
      var w = Math.max(3, b[1] / scale.mapped * total);
      if (x > 0 && x + w > WIDTH) { x = 0; row += 1; }
      items.push([x, row, Math.min(w, WIDTH), b]);
      x += w + 2;
    });
    var height = (row + 1) * (ROW_H + GAP);
    var svg = el('svg', {
      width: LEFT + WIDTH + 4, height: height,
      viewBox: '0 0 ' + (LEFT + WIDTH + 4) + ' ' + height, role: 'img',
      'aria-label': 'mapped blocks at this op'
    });
    svg.appendChild(el('text', {
      x: LEFT - 6, y: ROW_H / 2 + 4, 'text-anchor': 'end', 'font-size': 12, fill: '#555'
    }, 'mappings'));
    items.forEach(function (it) {
      block(svg, LEFT + it[0], it[1] * (ROW_H + GAP), it[2], ROW_H, it[3], hex(it[3][0]));
    });
    var sum = 0;
    state.maps.forEach(function (b) { sum += b[1]; });
    var text = state.maps_merged_from > 0
      ? state.maps_merged_from + ' mappings (neighbours merged), ' + bytes(sum)
      : state.maps.length + ' block(s) in mappings, ' + bytes(sum) + ', in address order';
    var box = html('div');
    box.appendChild(svg);
    box.appendChild(html('p', text, 'note'));
    return box;
  }

  function stat(box, name, value) {
    var s = html('span');
    s.appendChild(html('b', name + ' '));
    s.appendChild(document.createTextNode(value));
    box.appendChild(s);
  }

  function vmaTable(state) {
    var t = html('table');
    var head = html('tr');
    ['start', 'end', 'size', 'prot', 'kind'].forEach(function (c) { head.appendChild(html('th', c)); });
    t.appendChild(head);
    state.vmas.forEach(function (v) {
      var tr = html('tr');
      var size = parseInt(v[1], 16) - parseInt(v[0], 16);
      [v[0], v[1], bytes(size), v[2], v[3] ? 'heap (brk)' : 'mapping'].forEach(function (c) {
        tr.appendChild(html('td', c));
      });
      t.appendChild(tr);
    });
    var box = html('div', undefined, 'scroll');
    box.appendChild(t);
    if (state.vmas_more > 0) {
      box.appendChild(html('p', '… and ' + count(state.vmas_more) + ' more VMAs', 'note'));
    }
    if (state.vmas.length === 0) { box.appendChild(html('p', 'no VMAs', 'note')); }
    return box;
  }

  function opLine(run, i) {
    var s = run.states[i];
    return 'op ' + count(s.ops) + ' of ' + count(run.total_ops) + ': ' + s.op;
  }

  // Shows state i of run r.
  function show(r, i) {
    var run = data.runs[r];
    var scale = scales[r];
    runIndex = r;
    current = Math.max(0, Math.min(run.states.length - 1, i));
    slider.max = String(run.states.length - 1);
    slider.value = String(current);
    var s = run.states[current];

    var op = $('op');
    var marker = s.op.indexOf('phase ') === 0;
    op.textContent = opLine(run, current) + (s.phase && !marker ? '  · phase ' + s.phase : '');
    if (current === run.peak_footprint) { op.appendChild(html('span', 'peak footprint', 'tag')); }
    if (current === run.peak_rss) { op.appendChild(html('span', 'peak RSS', 'tag')); }

    var stats = $('stats');
    stats.textContent = '';
    stat(stats, 'live', bytes(s.live));
    stat(stats, 'allocated', bytes(s.allocated));
    stat(stats, 'footprint', bytes(s.footprint));
    stat(stats, 'RSS', bytes(s.rss));
    stat(stats, 'mapped', bytes(s.mapped));
    stat(stats, 'page tables', bytes(s.page_tables));
    stat(stats, 'VMAs', count(s.vma_count));
    stat(stats, 'break', 'heap + ' + bytes(s.brk));

    var heap = $('heap');
    heap.textContent = '';
    heap.appendChild(heapStrip(s, scale));
    if (s.heap_merged_from > 0) {
      heap.appendChild(html('p', s.heap_merged_from + ' heap blocks at this op: shown merged ' +
        'into spans of the kind covering most of their bytes, without ids.', 'note'));
    }
    if (scale.mapped > 0) { heap.appendChild(mapStrip(s, scale)); }

    $('free').textContent = s.free;
    var vmas = $('vmas');
    vmas.textContent = '';
    vmas.appendChild(vmaTable(s));
  }

  function legend() {
    var box = $('legend');
    KINDS.forEach(function (k) {
      var s = html('span');
      var sw = html('i');
      sw.style.background = k.colour;
      s.appendChild(sw);
      s.appendChild(document.createTextNode(k.name));
      box.appendChild(s);
    });
    box.appendChild(html('span', 'numbers: the program\'s block ids'));
  }

  function notes(r) {
    var box = $('notes');
    box.textContent = '';
    data.runs[r].notes.forEach(function (n) { box.appendChild(html('p', n)); });
  }

  function selectRun(r) {
    var old = data.runs[runIndex];
    var frac = old.states.length > 1 ? current / (old.states.length - 1) : 0;
    var run = data.runs[r];
    var buttons = $('runs').querySelectorAll('button');
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].className = b === r ? 'on' : '';
    }
    notes(r);
    show(r, Math.round(frac * (run.states.length - 1)));
  }

  function step(d) { show(runIndex, current + d); }

  function init() {
    legend();
    if (data.runs.length > 1) {
      data.runs.forEach(function (run, r) {
        var b = html('button', run.allocator);
        b.addEventListener('click', function () { selectRun(r); });
        $('runs').appendChild(b);
      });
    } else if (data.runs.length === 1) {
      $('runs').appendChild(html('b', data.runs[0].allocator));
    }
    slider.addEventListener('input', function () { show(runIndex, parseInt(slider.value, 10)); });
    $('prev').addEventListener('click', function () { step(-1); });
    $('next').addEventListener('click', function () { step(1); });
    $('peak-footprint').addEventListener('click', function () {
      show(runIndex, data.runs[runIndex].peak_footprint);
    });
    $('peak-rss').addEventListener('click', function () {
      show(runIndex, data.runs[runIndex].peak_rss);
    });
    document.addEventListener('keydown', function (e) {
      // The slider moves itself on arrow keys when it has the focus.
      if (e.target === slider) { return; }
      var n = e.shiftKey ? 10 : 1;
      if (e.key === 'ArrowRight') { step(n); } else if (e.key === 'ArrowLeft') { step(-n); } else if (e.key === 'Home') { show(runIndex, 0); } else if (e.key === 'End') { show(runIndex, Infinity); } else { return; }
      e.preventDefault();
    });
    if (data.runs.length > 0) { selectRun(0); }
    // report.html#NAME:K opens allocator NAME at its K-th kept state.
    var m = /^#([^:]+):(\d+)$/.exec(decodeURIComponent(location.hash));
    if (m) {
      data.runs.forEach(function (run, r) {
        if (run.allocator === m[1]) { selectRun(r); show(r, parseInt(m[2], 10)); }
      });
    }
  }

  // The page checks itself (report.html#test): every control moves the view.
  function selfTest() {
    function check(ok, what) { if (!ok) { throw new Error('self-test: ' + what); } }
    var done = [];
    for (var r = 0; r < data.runs.length; r++) {
      var run = data.runs[r];
      var last = run.states.length - 1;
      if (data.runs.length > 1) { $('runs').querySelectorAll('button')[r].click(); }
      check(runIndex === r, 'run ' + run.allocator + ' is selected');
      show(r, 0);
      check($('op').textContent.indexOf(opLine(run, 0)) === 0, 'the first state is shown');
      var first = run.states[0];
      var drawn = $('heap').querySelectorAll('g > rect').length;
      check(first.heap.length + first.maps.length === 0 || drawn > 0,
        'the heap map is drawn (' + drawn + ' blocks)');
      slider.value = String(last);
      slider.dispatchEvent(new Event('input'));
      check(current === last, 'the slider moves the view to the last state');
      check($('op').textContent.indexOf(opLine(run, last)) === 0, 'the op line follows the slider');
      if (last > 0) {
        document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft', bubbles: true }));
        check(current === last - 1, 'the left arrow key steps back');
        $('next').click();
        check(current === last, 'the next button steps forward');
      }
      $('peak-rss').click();
      check(current === run.peak_rss && $('op').textContent.indexOf('peak RSS') >= 0,
        'peak RSS is shown');
      $('peak-footprint').click();
      check(current === run.peak_footprint && $('op').textContent.indexOf('peak footprint') >= 0,
        'peak footprint is shown');
      check($('free').textContent.length > 0, 'the free lists are shown');
      done.push(run.allocator + ':' + run.states.length);
    }
    document.body.setAttribute('data-test', done.join(' '));
    document.body.setAttribute('data-ok', '1');
  }

  init();
  if (location.hash === '#test') {
    try {
      selfTest();
    } catch (e) {
      document.documentElement.setAttribute('data-error', String(e && e.message ? e.message : e));
    }
  }
}());
