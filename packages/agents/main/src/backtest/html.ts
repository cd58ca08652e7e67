import type { GroupStats, PerformanceMetrics } from './metrics.js';
import type { BacktestReport } from './report.js';

/**
 * The report as one HTML page that needs nothing else: styles, the SVG chart and the few lines of
 * script (chart cursor, sortable trade table) are inline, so the file can be mailed, archived or
 * opened offline and looks the same in ten years.
 */

const CHART_WIDTH = 1000;
const EQUITY_HEIGHT = 300;
const DRAWDOWN_HEIGHT = 120;
const PAD = { left: 84, right: 16, top: 22, gap: 34, bottom: 24 };
const MAX_TRADE_ROWS = 5_000;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function formatPct(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)} %`;
}

export function formatNumber(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Quote-currency amounts: enough digits for BTC-quoted markets, fewer for large USD values. */
export function formatMoney(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const abs = Math.abs(x);
  const digits = abs === 0 ? 2 : abs >= 1_000 ? 2 : abs >= 1 ? 4 : 8;
  return formatNumber(x, digits);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms <= 0) return '0';
  const minutes = Math.round(ms / 60_000);
  const d = Math.floor(minutes / 1_440);
  const h = Math.floor((minutes % 1_440) / 60);
  const m = minutes % 60;
  const parts: string[] = [];
  if (d > 0) parts.push(`${d}d`);
  if (h > 0) parts.push(`${h}h`);
  if (m > 0 && d === 0) parts.push(`${m}m`);
  return parts.length > 0 ? parts.join(' ') : `${Math.round(ms / 1_000)}s`;
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

interface ChartPoint {
  t: number;
  e: number;
  dd: number;
}

/**
 * Keeps the first, lowest, highest and last point of each pixel column, so a long backtest draws
 * fast while every peak and trough stays visible.
 */
export function downsample(points: readonly ChartPoint[], columns: number): ChartPoint[] {
  if (points.length <= columns * 4) return [...points];
  const out: ChartPoint[] = [];
  const t0 = points[0]!.t;
  const span = points[points.length - 1]!.t - t0 || 1;
  let i = 0;
  for (let c = 0; c < columns && i < points.length; c++) {
    const until = t0 + ((c + 1) / columns) * span;
    const start = i;
    let lo = i;
    let hi = i;
    let ddLo = i;
    while (i < points.length && (points[i]!.t <= until || c === columns - 1)) {
      if (points[i]!.e < points[lo]!.e) lo = i;
      if (points[i]!.e > points[hi]!.e) hi = i;
      if (points[i]!.dd < points[ddLo]!.dd) ddLo = i;
      i++;
    }
    const picked = [...new Set([start, lo, hi, ddLo, i - 1])].sort((a, b) => a - b);
    for (const k of picked) out.push(points[k]!);
  }
  return out;
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((s) => s * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export function renderChart(report: BacktestReport): { svg: string; data: ChartPoint[] } {
  let peak = -Infinity;
  const points: ChartPoint[] = report.equity.map(([t, e]) => {
    if (e > peak) peak = e;
    return { t, e, dd: peak > 0 ? e / peak - 1 : 0 };
  });
  if (points.length < 2) return { svg: '<p class="muted">Not enough bars for a chart.</p>', data: points };
  const data = downsample(points, CHART_WIDTH - PAD.left - PAD.right);
  const plotW = CHART_WIDTH - PAD.left - PAD.right;
  const t0 = data[0]!.t;
  const t1 = data[data.length - 1]!.t;
  const x = (t: number): number => PAD.left + ((t - t0) / (t1 - t0 || 1)) * plotW;
  let eMin = Infinity;
  let eMax = -Infinity;
  let ddMin = 0;
  for (const p of data) {
    eMin = Math.min(eMin, p.e);
    eMax = Math.max(eMax, p.e);
    ddMin = Math.min(ddMin, p.dd);
  }
  if (eMax === eMin) {
    eMax += Math.abs(eMax) * 0.01 || 1;
    eMin -= Math.abs(eMin) * 0.01 || 1;
  }
  if (ddMin === 0) ddMin = -0.01;
  const eTop = PAD.top;
  const ddTop = PAD.top + EQUITY_HEIGHT + PAD.gap;
  const yE = (e: number): number => eTop + (1 - (e - eMin) / (eMax - eMin)) * EQUITY_HEIGHT;
  const yD = (dd: number): number => ddTop + (dd / ddMin) * DRAWDOWN_HEIGHT;
  const f = (n: number): string => n.toFixed(1);
  const equityPath = data.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(x(p.t))},${f(yE(p.e))}`).join('');
  const ddPath = `M${f(x(t0))},${f(yD(0))}${data.map((p) => `L${f(x(p.t))},${f(yD(p.dd))}`).join('')}L${f(x(t1))},${f(yD(0))}Z`;
  const height = ddTop + DRAWDOWN_HEIGHT + PAD.bottom;
  const parts: string[] = [];
  parts.push(`<svg id="chart" viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" aria-label="Equity and drawdown">`);
  const equityTicks = niceTicks(eMin, eMax, 5);
  // As many decimals as the tick step needs, so labels stay short and distinct.
  const step = equityTicks.length > 1 ? equityTicks[1]! - equityTicks[0]! : Math.abs(eMax) || 1;
  const decimals = Math.min(8, Math.max(0, -Math.floor(Math.log10(step))));
  for (const v of equityTicks) {
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${CHART_WIDTH - PAD.right}" y1="${f(yE(v))}" y2="${f(yE(v))}"/>`);
    parts.push(`<text class="axis" x="${PAD.left - 6}" y="${f(yE(v) + 4)}" text-anchor="end">${escapeHtml(formatNumber(v, decimals))}</text>`);
  }
  for (const v of niceTicks(ddMin, 0, 3)) {
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${CHART_WIDTH - PAD.right}" y1="${f(yD(v))}" y2="${f(yD(v))}"/>`);
    parts.push(`<text class="axis" x="${PAD.left - 6}" y="${f(yD(v) + 4)}" text-anchor="end">${escapeHtml(formatPct(v, 1))}</text>`);
  }
  for (const v of niceTicks(t0, t1, 6)) {
    if (v < t0 || v > t1) continue;
    parts.push(`<text class="axis" x="${f(x(v))}" y="${height - 6}" text-anchor="middle">${formatTime(v).slice(0, 10)}</text>`);
  }
  parts.push(`<text class="label" x="${PAD.left}" y="${eTop - 8}">Equity (${escapeHtml(report.quoteCurrency)})</text>`);
  parts.push(`<text class="label" x="${PAD.left}" y="${ddTop - 10}">Drawdown</text>`);
  parts.push(`<path class="equity" d="${equityPath}"/>`);
  parts.push(`<path class="drawdown" d="${ddPath}"/>`);
  parts.push(`<line id="cursor" class="cursor" x1="0" x2="0" y1="${eTop}" y2="${ddTop + DRAWDOWN_HEIGHT}" visibility="hidden"/>`);
  parts.push(`<rect id="hit" x="${PAD.left}" y="${eTop}" width="${plotW}" height="${ddTop + DRAWDOWN_HEIGHT - eTop}" fill="transparent"/>`);
  parts.push('</svg>');
  return { svg: parts.join(''), data };
}

function metricRows(m: PerformanceMetrics, quote: string): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['Starting equity', `${formatMoney(m.startEquity)} ${quote}`],
    ['Final equity', `${formatMoney(m.endEquity)} ${quote}`],
    ['Total return', formatPct(m.totalReturn)],
    ['CAGR', formatPct(m.cagr)],
    ['Volatility (annualised)', formatPct(m.volatility)],
    ['Sharpe ratio', formatNumber(m.sharpe)],
    ['Sortino ratio', formatNumber(m.sortino)],
    ['Calmar ratio', formatNumber(m.calmar)],
    ['Max drawdown', formatPct(m.maxDrawdown)],
    ['Max drawdown duration', `${formatDuration(m.maxDrawdownDurationMs)}${m.maxDrawdownPeakAt !== null && m.maxDrawdownRecoveredAt === null ? ' (not recovered)' : ''}`],
    ['Longest time under water', formatDuration(m.longestDrawdownMs)],
    ['Exposure time', formatPct(m.exposureTime)],
    ['Trades', String(m.trades)],
    ['Win rate', formatPct(m.winRate)],
    ['Profit factor', formatNumber(m.profitFactor)],
    ['Expectancy per trade', `${formatMoney(m.expectancy)} ${quote} (${formatNumber(m.expectancyPct)} %)`],
    ['Average win', formatMoney(m.averageWin)],
    ['Average loss', formatMoney(m.averageLoss)],
    ['Payoff ratio', formatNumber(m.payoffRatio)],
    ['Best / worst trade', `${formatMoney(m.bestTrade)} / ${formatMoney(m.worstTrade)}`],
    ['Average holding time', formatDuration(m.averageHoldingMs)],
    ['Fees', `${formatMoney(m.fees)} ${quote}`],
    ['Risk-free rate', formatPct(m.riskFreeRate)],
    ['Periods per year', formatNumber(m.periodsPerYear, 1)],
  ];
  if (m.benchmark !== undefined) {
    rows.push(['Benchmark return', formatPct(m.benchmark.totalReturn)]);
    rows.push(['Alpha (annualised)', formatPct(m.benchmark.alpha)]);
    rows.push(['Beta', formatNumber(m.benchmark.beta, 3)]);
    rows.push(['Correlation', formatNumber(m.benchmark.correlation, 3)]);
  }
  return rows;
}

function groupTable(title: string, groups: Record<string, GroupStats>): string {
  const keys = Object.keys(groups);
  if (keys.length === 0) return '';
  const head = ['', 'Trades', 'Win rate', 'Net P&L', 'Return', 'Profit factor', 'Expectancy', 'Avg win', 'Avg loss', 'Fees'];
  const rows = keys.map((k) => {
    const g = groups[k]!;
    return [
      escapeHtml(k),
      String(g.trades),
      formatPct(g.winRate),
      formatMoney(g.netProfit),
      formatPct(g.returnContribution),
      formatNumber(g.profitFactor),
      formatMoney(g.expectancy),
      formatMoney(g.averageWin),
      formatMoney(g.averageLoss),
      formatMoney(g.fees),
    ];
  });
  return `<h2>${escapeHtml(title)}</h2><table class="num"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function tradeTable(report: BacktestReport): string {
  const shown = report.trades.slice(0, MAX_TRADE_ROWS);
  const head = ['#', 'Opened', 'Closed', 'Symbol', 'Strategy', 'Side', 'Qty', 'Entry', 'Exit', 'P&L', 'P&L %', 'Fees', 'Exit reason'];
  const rows = shown.map((t, i) => {
    const cls = t.pnl > 0 ? 'win' : t.pnl < 0 ? 'loss' : '';
    return `<tr class="${cls}"><td data-v="${i + 1}">${i + 1}</td><td data-v="${t.openedAt}">${formatTime(t.openedAt)}</td><td data-v="${t.closedAt}">${formatTime(t.closedAt)}</td><td>${escapeHtml(t.symbol)}</td><td>${escapeHtml(t.strategyId ?? '')}</td><td>${t.side}</td><td data-v="${t.quantity}">${formatNumber(t.quantity, 6)}</td><td data-v="${t.entryPrice}">${formatMoney(t.entryPrice)}</td><td data-v="${t.exitPrice}">${formatMoney(t.exitPrice)}</td><td data-v="${t.pnl}">${formatMoney(t.pnl)}</td><td data-v="${t.pnlPct}">${formatNumber(t.pnlPct)}</td><td data-v="${t.fees}">${formatMoney(t.fees)}</td><td>${escapeHtml(t.exitReason)}</td></tr>`;
  });
  const more = report.trades.length > shown.length ? `<p class="muted">Showing the first ${shown.length} of ${report.trades.length} trades; trades.csv has them all.</p>` : '';
  const open =
    report.openTrades.length > 0
      ? `<p class="muted">${report.openTrades.length} trade(s) still open at the end of the data, marked to market in the equity curve: ${report.openTrades
          .map((t) => `${escapeHtml(t.symbol)} ${t.side} since ${formatTime(t.openedAt)}`)
          .join('; ')}.</p>`
      : '';
  return `<h2>Trades</h2>${more}${open}<table id="trades" class="num sortable"><thead><tr>${head.map((h, i) => `<th data-col="${i}">${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#667085;--bg:#fff;--card:#f5f7fa;--line:#d0d7de;--eq:#1f6feb;--dd:#d1242f;--win:#1a7f37;--loss:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8b949e;--bg:#0d1117;--card:#161b22;--line:#30363d;--eq:#58a6ff;--dd:#f85149;--win:#3fb950;--loss:#f85149}}
*{box-sizing:border-box}body{margin:0 auto;max-width:1100px;padding:24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:16px 0}
.card{background:var(--card);border-radius:8px;padding:10px 12px}.card b{display:block;font-size:19px}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
table.num td{text-align:right;font-variant-numeric:tabular-nums}table.kv td{text-align:right}table.kv{max-width:560px}
.sortable th{cursor:pointer;user-select:none}.sortable th:hover{text-decoration:underline}
tr.win td:nth-child(10){color:var(--win)}tr.loss td:nth-child(10){color:var(--loss)}
.warn{background:#fff8c5;color:#3b2e00;border-radius:8px;padding:8px 12px}
svg{width:100%;height:auto;background:var(--card);border-radius:8px}
.grid{stroke:var(--line);stroke-width:1}.axis{fill:var(--muted);font-size:11px}.label{fill:var(--muted);font-size:12px;font-weight:600}
.equity{fill:none;stroke:var(--eq);stroke-width:1.5}.drawdown{fill:var(--dd);fill-opacity:.35;stroke:var(--dd);stroke-width:1}
.cursor{stroke:var(--muted);stroke-dasharray:3 3}#tip{position:fixed;pointer-events:none;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:4px 8px;font-size:12px;display:none}
.scroll{overflow-x:auto}
`;

const SCRIPT = `
(function(){
var data=JSON.parse(document.getElementById('chart-data').textContent);
var svg=document.getElementById('chart'),hit=document.getElementById('hit'),cur=document.getElementById('cursor'),tip=document.getElementById('tip');
if(svg&&hit&&data.points.length>1){
 var x0=data.left,w=data.width,t0=data.points[0].t,t1=data.points[data.points.length-1].t;
 hit.addEventListener('mousemove',function(ev){
  var pt=svg.createSVGPoint();pt.x=ev.clientX;pt.y=ev.clientY;var p=pt.matrixTransform(svg.getScreenCTM().inverse());
  var t=t0+(p.x-x0)/w*(t1-t0),lo=0,hi=data.points.length-1;
  while(lo<hi){var mid=(lo+hi)>>1;if(data.points[mid].t<t)lo=mid+1;else hi=mid;}
  var q=data.points[lo];var xx=x0+(q.t-t0)/(t1-t0||1)*w;
  cur.setAttribute('x1',xx);cur.setAttribute('x2',xx);cur.setAttribute('visibility','visible');
  tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';
  tip.textContent=new Date(q.t).toISOString().slice(0,16).replace('T',' ')+'  equity '+q.e.toPrecision(8)+'  drawdown '+(q.dd*100).toFixed(2)+' %';
 });
 hit.addEventListener('mouseleave',function(){cur.setAttribute('visibility','hidden');tip.style.display='none';});
}
document.querySelectorAll('table.sortable').forEach(function(table){
 var dir={};
 table.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){
  var col=+th.dataset.col,body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  dir[col]=-(dir[col]||-1);
  rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];var vx=x.dataset.v,vy=y.dataset.v;
   if(vx!==undefined&&vy!==undefined)return (parseFloat(vx)-parseFloat(vy))*dir[col];
   return x.textContent.localeCompare(y.textContent)*dir[col];});
  rows.forEach(function(r){body.appendChild(r);});
 });});
});
})();
`;

export function renderHtml(report: BacktestReport): string {
  const m = report.metrics;
  const quote = escapeHtml(report.quoteCurrency);
  const chart = renderChart(report);
  const cards: Array<[string, string]> = [
    ['Total return', formatPct(m.totalReturn)],
    ['CAGR', formatPct(m.cagr)],
    ['Sharpe', formatNumber(m.sharpe)],
    ['Sortino', formatNumber(m.sortino)],
    ['Max drawdown', formatPct(m.maxDrawdown)],
    ['Calmar', formatNumber(m.calmar)],
    ['Trades', String(m.trades)],
    ['Win rate', formatPct(m.winRate)],
    ['Profit factor', formatNumber(m.profitFactor)],
    ['Fees', `${formatMoney(m.fees)} ${quote}`],
  ];
  const warnings =
    report.warnings.length > 0 ? `<div class="warn"><b>Read before trusting the numbers:</b><ul>${report.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></div>` : '';
  const o = report.orders;
  const chartData = { left: PAD.left, width: CHART_WIDTH - PAD.left - PAD.right, points: chart.data.map((p) => ({ t: p.t, e: p.e, dd: p.dd })) };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Backtest: ${escapeHtml(report.name)}</title><style>${STYLE}</style></head>
<body>
<h1>Backtest: ${escapeHtml(report.name)}</h1>
<p class="muted">${formatTime(m.start)} → ${formatTime(m.end)} UTC · ${report.symbols.length} symbol(s): ${escapeHtml(report.symbols.join(', '))} · ${escapeHtml(report.timeframe)} bars · ${m.periods} periods${report.benchmark ? ` · benchmark ${escapeHtml(report.benchmark.name)}` : ''}${report.config ? ` · config ${escapeHtml(report.config)}` : ''}</p>
${warnings}
<div class="cards">${cards.map(([k, v]) => `<div class="card"><span>${k}</span><b>${v}</b></div>`).join('')}</div>
<h2>Equity and drawdown</h2>
${chart.svg}
<div id="tip"></div>
<h2>Statistics</h2>
<table class="kv"><tbody>${metricRows(m, quote)
    .map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`)
    .join('')}</tbody></table>
<p class="muted">Signals: ${report.signals.generated} generated, ${report.signals.accepted} accepted, ${report.signals.rejected} rejected${
    report.signals.topRejections.length > 0 ? ` (most often: ${report.signals.topRejections.map((r) => `${escapeHtml(r.reason)} ×${r.count}`).join('; ')})` : ''
  }.</p>
<p class="muted">Orders: ${o.requested} requested, ${o.filled} filled, ${o.partiallyFilled} partially filled, ${o.cancelled} cancelled, ${o.rejected} rejected, ${o.expired} expired.</p>
<div class="scroll">${groupTable('By strategy', report.byStrategy)}</div>
<div class="scroll">${groupTable('By symbol', report.bySymbol)}</div>
<div class="scroll">${tradeTable(report)}</div>
<p class="muted">Formulas: see docs/backtest.md of Tradebus. Returns are per bar, annualised with ${formatNumber(m.periodsPerYear, 1)} periods per year; risk-free rate ${formatPct(m.riskFreeRate)}. Trade log SHA-256 ${report.tradeLogSha256}. ${report.run.candles.toLocaleString('en-US')} candles in ${(report.run.wallMs / 1000).toFixed(2)} s.</p>
<script type="application/json" id="chart-data">${scriptJson(chartData)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
