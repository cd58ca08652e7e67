// The trade monitor page: renders a snapshot of the system, then applies live events from
// /api/stream (Server-Sent Events). Plain browser JavaScript, no build step.
import { EquityChart, PriceChart } from './charts.js';
import { byId, el, fmtDateTime, fmtDuration, fmtNumber, fmtPrice, fmtQty, fmtSigned, moneyDigits, priceDigits, setText, toast } from './dom.js';

const MAX_TRADES = 500;
const MAX_EVENTS = 1000;
const MAX_EVENT_ROWS = 300;
const MAX_ALERTS = 200;
const STALE_AFTER_MS = 10_000;
const FINISHED_ORDER = new Set(['filled', 'cancelled', 'rejected', 'expired']);

const model = emptyModel();
const ui = {
  mode: 'live',
  connection: 'connecting',
  lastMessageAt: 0,
  source: undefined,
  charts: new Map(),
  equity: undefined,
  dirty: new Set(),
  frame: 0,
  eventFilter: { type: '', text: '', paused: false },
  expanded: new Set(),
  killAction: 'kill',
  /** What the open dialog sends: the kill button's action, or flatten. */
  dialogAction: undefined,
};

function emptyModel() {
  return {
    title: undefined,
    system: undefined,
    charts: [],
    positions: [],
    orders: [],
    trades: [],
    account: null,
    equity: [],
    risk: null,
    alerts: [],
    watchdog: null,
    events: [],
    eventTypes: {},
    metrics: undefined,
  };
}

// ---------------------------------------------------------------- data in

function applySnapshot(snapshot) {
  Object.assign(model, emptyModel(), snapshot);
  for (const chart of ui.charts.values()) chart.remove();
  ui.charts.clear();
  markDirty('all');
}

function applyHealth(health) {
  model.system = health;
  markDirty('agents', 'status');
}

function applyEvent(env) {
  const p = env.payload;
  model.eventTypes[env.type] = (model.eventTypes[env.type] ?? 0) + 1;
  if (env.type !== 'agent.heartbeat') {
    model.events.push(env);
    if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
    markDirty('events');
  } else if (model.eventTypes[env.type] === 1) {
    markDirty('events');
  }
  switch (env.type) {
    case 'candle.closed':
    case 'candle.updated': {
      const chart = model.charts.find((c) => c.symbol === p.symbol && c.timeframe === p.timeframe);
      if (chart === undefined) break;
      const bar = { time: p.timestamp, open: p.open, high: p.high, low: p.low, close: p.close, volume: p.volume };
      if (env.type === 'candle.closed') {
        const last = chart.candles[chart.candles.length - 1];
        if (last === undefined || bar.time > last.time) chart.candles.push(bar);
        else if (bar.time === last.time) chart.candles[chart.candles.length - 1] = bar;
        if (chart.forming !== undefined && chart.forming.time <= bar.time) chart.forming = undefined;
      } else {
        chart.forming = bar;
      }
      ui.charts.get(chart.symbol)?.updateBar(bar);
      markDirty('clock');
      break;
    }
    case 'trade.opened':
    case 'trade.closed': {
      const i = model.trades.findIndex((t) => t.tradeId === p.tradeId);
      const previous = i === -1 ? undefined : model.trades[i];
      if (env.type === 'trade.opened' && previous?.status === 'closed') break;
      const row =
        env.type === 'trade.opened'
          ? { ...p, status: 'open' }
          : { ...p, status: 'closed', stopLoss: previous?.stopLoss, takeProfit: previous?.takeProfit, strategyId: p.strategyId ?? previous?.strategyId };
      if (i !== -1) model.trades.splice(i, 1);
      model.trades.unshift(row);
      if (model.trades.length > MAX_TRADES) model.trades.length = MAX_TRADES;
      markDirty('trades', 'markers');
      break;
    }
    case 'position.updated': {
      const i = model.positions.findIndex((x) => x.symbol === p.symbol);
      if (i !== -1 && model.positions[i].timestamp > p.timestamp) break;
      if (i !== -1) model.positions.splice(i, 1);
      if (p.side !== 'flat' && p.quantity !== 0) model.positions.push(p);
      model.positions.sort((a, b) => a.symbol.localeCompare(b.symbol));
      markDirty('positions', 'markers', 'kpis');
      break;
    }
    case 'order.updated': {
      const i = model.orders.findIndex((o) => o.clientOrderId === p.clientOrderId);
      if (i !== -1 && model.orders[i].timestamp > p.timestamp) break;
      if (i !== -1) model.orders.splice(i, 1);
      if (!FINISHED_ORDER.has(p.status)) model.orders.unshift(p);
      markDirty('orders');
      break;
    }
    case 'account.updated': {
      if (model.account === null || p.timestamp >= model.account.timestamp) model.account = p;
      const point = { time: p.timestamp, equity: p.equity };
      const last = model.equity[model.equity.length - 1];
      if (last === undefined || point.time > last.time) model.equity.push(point);
      else if (point.time === last.time) model.equity[model.equity.length - 1] = point;
      if (ui.equity === undefined || !ui.equity.addPoint(point)) markDirty('equity');
      markDirty('kpis', 'equityNote');
      break;
    }
    case 'risk.state':
      if (model.risk === null || p.timestamp >= model.risk.timestamp) {
        const flipped = model.risk !== null && model.risk.killSwitch !== p.killSwitch;
        model.risk = p;
        if (flipped) onKillSwitchFlipped(p);
        markDirty('risk', 'kpis');
      }
      break;
    case 'system.alert':
      model.alerts.unshift(p);
      if (model.alerts.length > MAX_ALERTS) model.alerts.length = MAX_ALERTS;
      if (p.level === 'error' || p.level === 'critical') toast(`${p.code}: ${p.message}`, 'error', 10_000);
      markDirty('alerts', p.code.startsWith('WATCHDOG_') ? 'watchdog' : 'alerts');
      break;
    case 'watchdog.report':
      if (model.watchdog === null || p.timestamp >= model.watchdog.timestamp) model.watchdog = p;
      markDirty('watchdog');
      break;
    case 'watchdog.recommendation': {
      // Newer than the last report: it replaces the report's line for the same setting.
      if (model.watchdog === null) model.watchdog = { recommendations: [], tuning: [], timestamp: p.timestamp };
      const list = model.watchdog.recommendations;
      const i = list.findIndex((r) => r.agent === p.agent && r.setting === p.setting && r.strategies.join() === p.strategies.join());
      if (i === -1) list.push(p);
      else if (p.timestamp >= list[i].timestamp) list[i] = p;
      markDirty('watchdog');
      break;
    }
    default:
      break;
  }
}

// ---------------------------------------------------------------- rendering

function markDirty(...parts) {
  for (const part of parts) ui.dirty.add(part);
  if (ui.frame === 0) ui.frame = requestAnimationFrame(render);
}

function render() {
  ui.frame = 0;
  const d = ui.dirty;
  const all = d.has('all');
  ui.dirty = new Set();
  if (all) renderCharts();
  if (all || d.has('markers') || d.has('trades')) renderMarkers();
  if (all || d.has('agents')) renderAgents();
  if (all || d.has('status')) renderStatus();
  if (all || d.has('risk')) renderRisk();
  if (all || d.has('positions')) renderPositions();
  if (all || d.has('orders')) renderOrders();
  if (all || d.has('trades')) renderTrades();
  if (all || d.has('equity')) renderEquity();
  if (all || d.has('equity') || d.has('equityNote')) renderEquityNote();
  if (all || d.has('alerts')) renderAlerts();
  if (all || d.has('watchdog') || d.has('alerts')) renderWatchdog();
  if (all || d.has('events')) renderEvents();
  if (all || d.has('kpis') || d.has('risk')) renderKpis();
  renderClock();
}

function quoteCurrency() {
  return model.account?.quoteCurrency ?? model.quoteCurrency;
}

function currencyDigits() {
  return moneyDigits(quoteCurrency());
}

function money(value) {
  if (value === undefined || value === null) return '—';
  const ccy = quoteCurrency();
  return `${fmtNumber(value, currencyDigits())}${ccy ? ` ${ccy}` : ''}`;
}

function digitsFor(symbol, sample) {
  const chart = ui.charts.get(symbol);
  return chart !== undefined ? chart.digits : priceDigits(sample);
}

function cell(text, cls) {
  return el('td', { class: cls, text });
}

function signedCell(value, digits, suffix = '') {
  const s = fmtSigned(value, digits, suffix);
  return el('td', { class: `num ${s.cls}`, text: s.text });
}

/** An amount with its percentage of `basis` beneath. */
function pnlCell(value, basis) {
  const amount = fmtSigned(value, currencyDigits());
  const pct = basis > 0 ? fmtSigned((value / basis) * 100, 2, '%') : undefined;
  return el('td', { class: `num ${amount.cls}` }, el('div', { text: amount.text }), pct ? el('div', { class: 'small', text: pct.text }) : '');
}

function fillBody(table, rows, emptyText, columns) {
  const body = byId(table).tBodies[0];
  if (rows.length === 0) body.replaceChildren(el('tr', { class: 'empty-row' }, el('td', { colspan: columns, text: emptyText })));
  else body.replaceChildren(...rows);
}

function renderCharts() {
  const box = byId('charts');
  box.replaceChildren();
  const n = model.charts.length;
  box.className = `charts ${n === 0 ? 'charts-n0' : n <= 4 ? `charts-n${n}` : 'charts-many'}`;
  if (n === 0) {
    box.append(el('p', { class: 'empty', text: ui.mode === 'report' ? 'This report has no price data.' : 'Waiting for candles…' }));
    return;
  }
  for (const data of model.charts) {
    const chart = new PriceChart(box, data.symbol, data.timeframe);
    chart.setBars(data.candles, data.forming);
    ui.charts.set(data.symbol, chart);
  }
}

function renderMarkers() {
  for (const chart of ui.charts.values()) {
    chart.setTrades(model.trades, model.positions.find((p) => p.symbol === chart.symbol));
  }
}

function renderStatus() {
  const node = byId('system-status');
  const status = model.system?.status;
  if (status === undefined) {
    setText(node, ui.mode === 'report' ? 'REPORT' : 'SYSTEM —', 'pill pill-muted');
    return;
  }
  setText(node, `SYSTEM ${status.toUpperCase()}`, `pill pill-${status}`);
  node.dataset.status = status;
  document.title = `${status === 'ok' ? '' : `(${status.toUpperCase()}) `}Trade Monitor · Tradebus`;
}

function renderAgents() {
  const agents = model.system?.agents ?? [];
  const rows = agents.map((a) => {
    const errors = el('td', { class: `num ${a.errors > 0 ? 'errors-nonzero' : 'muted'}`, text: String(a.errors) });
    if (a.lastError) errors.title = `Last error: ${a.lastError}`;
    const status = el('span', { class: `pill pill-${a.status}`, text: a.status });
    if (a.detail) status.title = a.detail;
    return el(
      'tr',
      { dataset: { agent: a.agentId, status: a.status } },
      el(
        'td',
        {},
        el('div', { class: 'agent-id', text: a.agentId, title: `kind: ${a.kind}` }),
        el('div', {
          class: 'agent-kind',
          text: `${fmtCount(a.eventsIn)} in · ${fmtCount(a.eventsOut)} out`,
          title: `${a.kind}: ${a.eventsIn} events in, ${a.eventsOut} out · pid ${a.pid} on ${a.host} · ${a.transport} transport`,
        }),
        // A failed agent says why right in its row: that is the first thing an operator needs.
        a.status === 'failed' ? el('div', { class: 'agent-error', text: a.detail ?? a.lastError ?? 'failed', title: a.lastError ?? a.detail ?? '' }) : null,
      ),
      el('td', {}, status),
      el('td', { class: `num ${a.heartbeatAgeMs > a.intervalMs * 1.5 ? 'neg' : 'muted'}`, text: fmtDuration(a.heartbeatAgeMs) }),
      cell(fmtDuration(a.uptimeMs), 'num'),
      errors,
    );
  });
  fillBody('agents', rows, ui.mode === 'report' ? 'Reports carry no agent health.' : 'No heartbeats yet.', 5);
  const counts = agents.reduce((acc, a) => ((acc[a.status] = (acc[a.status] ?? 0) + 1), acc), {});
  byId('agents-note').textContent = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(' · ');
}

function fmtCount(n) {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

function renderRisk() {
  const r = model.risk;
  const banner = byId('risk-banner');
  const stats = byId('risk-stats');
  const breakers = byId('breakers');
  const button = byId('kill-button');
  if (r === null || r === undefined) {
    setText(banner, ui.mode === 'report' ? 'NO RISK STATE IN THIS REPORT' : 'NO RISK STATE YET', 'risk-banner risk-unknown');
    banner.dataset.kill = 'unknown';
    stats.replaceChildren();
    breakers.replaceChildren();
    setKillButton('kill');
    byId('risk-updated').textContent = '';
    return;
  }
  const tripped = r.breakers.filter((b) => b.tripped).map((b) => b.name);
  if (r.killSwitch) setText(banner, 'KILL SWITCH ENGAGED · NO NEW ENTRIES', 'risk-banner risk-killed');
  else if (tripped.length > 0) setText(banner, `BREAKER TRIPPED · ${tripped.join(', ')}`, 'risk-banner risk-reducing');
  else if (r.reducingOnly) setText(banner, 'REDUCING ONLY', 'risk-banner risk-reducing');
  else setText(banner, 'TRADING ACTIVE', 'risk-banner risk-active');
  banner.dataset.kill = r.killSwitch ? 'on' : 'off';
  setKillButton(r.killSwitch ? 'resume' : 'kill');
  button.hidden = ui.mode === 'report';
  byId('flatten-button').hidden = ui.mode === 'report';
  const daily = fmtSigned(r.dailyPnl, currencyDigits());
  const items = [
    ['Equity', fmtNumber(r.equity, currencyDigits()), ''],
    ['Peak', fmtNumber(r.peakEquity, currencyDigits()), ''],
    ['Drawdown', fmtDrawdown(r.drawdownPct), r.drawdownPct > 0 ? 'neg' : ''],
    ['Day P&L', daily.text, daily.cls],
    ['Exposure', fmtNumber(r.exposure, currencyDigits()), ''],
    ['Heat', fmtNumber(r.heat, 4, 2), ''],
  ];
  // Shown only when the trade manager has the rule configured (the field is absent otherwise).
  if (r.sizeMultiplier !== undefined) items.push(['Entry size', `× ${fmtNumber(r.sizeMultiplier, 2)}`, r.sizeMultiplier < 1 ? 'neg' : '']);
  if (r.marginUse !== undefined) items.push(['Margin use', `${fmtNumber(r.marginUse, 1)}%`, r.marginUse >= 50 ? 'neg' : '']);
  if (r.portfolio?.cvar95Pct !== undefined) items.push(['CVaR', `${fmtNumber(r.portfolio.cvar95Pct, 2)}%`, '']);
  for (const [group, value] of Object.entries(r.portfolio?.groups ?? {})) items.push([`Group ${group}`, fmtNumber(value, currencyDigits()), '']);
  stats.replaceChildren(...items.map(([k, v, cls]) => el('div', {}, el('dt', { text: k }), el('dd', { class: cls, text: v }))));
  breakers.replaceChildren(
    ...(r.breakers.length === 0
      ? [el('span', { class: 'muted', text: 'No circuit breakers reported.' })]
      : r.breakers.map((b) => {
          const node = el('span', { class: `breaker${b.tripped ? ' tripped' : ''}`, dataset: { breaker: b.name, tripped: String(b.tripped) }, text: `${b.name}${b.tripped ? ' · TRIPPED' : ''}` });
          const why = [b.reason, b.until ? `until ${fmtDateTime(b.until)} UTC` : undefined].filter(Boolean).join(' ');
          if (why) node.title = why;
          return node;
        })),
  );
  byId('risk-updated').textContent = `as of ${fmtDateTime(r.timestamp, true)} UTC`;
}

/** Drawdown is a loss from the peak, shown as a negative percentage. */
function fmtDrawdown(pct) {
  const value = Math.abs(Number(pct));
  return value === 0 ? '0.00%' : `−${fmtNumber(value, 2)}%`;
}

function setKillButton(action) {
  const button = byId('kill-button');
  ui.killAction = action;
  button.textContent = action === 'kill' ? 'Kill switch' : 'Resume trading';
  button.className = `button ${action === 'kill' ? 'button-danger' : 'button-resume'}`;
  button.dataset.action = action;
}

function renderPositions() {
  const rows = model.positions.map((p) => {
    const digits = digitsFor(p.symbol, p.entryPrice);
    return el(
      'tr',
      { dataset: { symbol: p.symbol } },
      el('td', { class: 'agent-id', text: p.symbol }),
      el('td', { class: `side-${p.side}`, text: p.side }),
      cell(fmtQty(p.quantity), 'num'),
      cell(fmtPrice(p.entryPrice, digits), 'num'),
      cell(fmtPrice(p.markPrice, digits), 'num'),
      pnlCell(p.unrealizedPnl, p.quantity * p.entryPrice),
      signedCell(p.realizedPnl, currencyDigits()),
    );
  });
  fillBody('positions', rows, 'No open positions.', 7);
  byId('positions-count').textContent = String(model.positions.length);
}

function renderOrders() {
  const rows = model.orders.map((o) =>
    el(
      'tr',
      { dataset: { order: o.clientOrderId } },
      el('td', { title: `${o.clientOrderId}${o.venueOrderId ? ` (venue ${o.venueOrderId})` : ''}` }, el('div', { class: 'agent-id', text: o.symbol }), el('div', { class: 'sub small mono', text: fmtDateTime(o.timestamp) })),
      el('td', { class: `side-${o.side}`, text: o.side }),
      el('td', {}, el('div', { text: o.type.replace('_', ' ') }), o.purpose ? el('div', { class: 'sub small', text: o.purpose.replace('_', ' ') }) : ''),
      cell(`${fmtQty(o.filledQuantity)} / ${fmtQty(o.quantity)}`, 'num'),
      cell(fmtPrice(o.price ?? o.stopPrice, digitsFor(o.symbol, o.price ?? o.stopPrice)), 'num'),
      el('td', { class: 'order-status', text: o.status.replace('_', ' '), title: o.reason }),
    ),
  );
  fillBody('orders', rows, 'No working orders.', 6);
  byId('orders-count').textContent = String(model.orders.length);
}

function renderTrades() {
  const rows = model.trades.map((t) => {
    const digits = digitsFor(t.symbol, t.entryPrice);
    return el(
      'tr',
      { dataset: { trade: t.tradeId, status: t.status } },
      cell(fmtDateTime(t.openedAt), 'mono muted'),
      el('td', { class: 'agent-id', text: t.symbol }),
      el('td', { class: `side-${t.side}`, text: t.side }),
      cell(fmtQty(t.quantity), 'num'),
      cell(fmtPrice(t.entryPrice, digits), 'num'),
      cell(t.exitPrice === undefined ? '—' : fmtPrice(t.exitPrice, digits), 'num'),
      signedCell(t.pnl, currencyDigits()),
      signedCell(t.pnlPct, 2, '%'),
      cell(t.exitReason ?? '', 'muted'),
      t.status === 'open' ? el('td', {}, el('span', { class: 'status-open', text: 'open' })) : cell(fmtDateTime(t.closedAt), 'mono muted'),
    );
  });
  fillBody('trades', rows, 'No trades yet.', 10);
  byId('trades-count').textContent = String(model.trades.length);
  const closed = model.trades.filter((t) => t.status === 'closed');
  if (closed.length === 0) {
    byId('trades-summary').textContent = '';
    return;
  }
  const wins = closed.filter((t) => (t.pnl ?? 0) > 0).length;
  const total = closed.reduce((sum, t) => sum + (t.pnl ?? 0), 0);
  const summary = byId('trades-summary');
  summary.replaceChildren(
    `${closed.length} closed · win rate ${fmtNumber((wins / closed.length) * 100, 0)}% · net `,
    el('span', { class: fmtSigned(total, currencyDigits()).cls, text: fmtSigned(total, currencyDigits()).text }),
  );
}

function renderEquity() {
  const box = byId('equity-chart');
  if (model.equity.length === 0) {
    ui.equity = undefined;
    box.replaceChildren(el('p', { class: 'empty', text: 'No account updates yet.' }));
    return;
  }
  if (ui.equity === undefined) {
    box.replaceChildren();
    ui.equity = new EquityChart(box);
  }
  ui.equity.setPoints(model.equity, currencyDigits());
}

function renderEquityNote() {
  const first = model.equity[0];
  const last = model.equity[model.equity.length - 1];
  const note = byId('equity-change');
  if (first === undefined || last === undefined || first.equity === 0) {
    note.textContent = '';
    return;
  }
  const change = fmtSigned(((last.equity - first.equity) / Math.abs(first.equity)) * 100, 2, '%');
  note.replaceChildren(`${money(last.equity)} `, el('span', { class: change.cls, text: change.text }));
  ui.equity?.chart.timeScale().fitContent();
}

function renderKpis() {
  const account = model.account;
  const risk = model.risk;
  setText(byId('kpi-equity'), account ? money(account.equity) : risk ? money(risk.equity) : '—');
  const upnl = account?.unrealizedPnl ?? (model.positions.length > 0 ? model.positions.reduce((s, p) => s + (p.unrealizedPnl ?? 0), 0) : undefined);
  const u = fmtSigned(upnl, currencyDigits());
  setText(byId('kpi-upnl'), u.text, `kpi-value num ${u.cls}`);
  const day = fmtSigned(risk?.dailyPnl, currencyDigits());
  setText(byId('kpi-daypnl'), day.text, `kpi-value num ${day.cls}`);
  setText(byId('kpi-dd'), risk ? fmtDrawdown(risk.drawdownPct) : '—', `kpi-value num ${risk && risk.drawdownPct > 0 ? 'neg' : ''}`);
  setText(byId('kpi-positions'), String(model.positions.length));
}

function renderAlerts() {
  const list = byId('alerts');
  list.replaceChildren(
    ...(model.alerts.length === 0
      ? [el('li', { class: 'empty-item', text: 'No alerts.' })]
      : model.alerts.slice(0, 100).map((a) =>
          el(
            'li',
            { class: `level-${a.level}` },
            el('span', { class: 'dot', title: a.level }),
            el('span', { class: 'alert-code', text: a.code }),
            el('span', { class: 'alert-time num', text: fmtDateTime(a.timestamp, true) }),
            el('span', { class: 'alert-message', text: a.agentId ? `${a.agentId}: ${a.message}` : a.message }),
          ),
        )),
  );
  byId('alerts-count').textContent = String(model.alerts.length);
}

/** The profit watchdog's recommendations with their evidence, its auto-tune changes and its alerts. */
function renderWatchdog() {
  const report = model.watchdog;
  const alerts = model.alerts.filter((a) => a.code.startsWith('WATCHDOG_'));
  const recs = report?.recommendations ?? [];
  byId('watchdog-panel').hidden = report === null && alerts.length === 0;
  const tuning = report?.tuning ?? [];
  const last = tuning[tuning.length - 1];
  byId('watchdog-note').textContent = [
    report?.outcomes !== undefined ? `${report.outcomes} outcomes` : '',
    last ? `auto-tune: ${last.action.replace('_', ' ')} ${last.setting} ${last.from} → ${last.to}` : '',
  ]
    .filter((s) => s !== '')
    .join(' · ');
  const body = byId('watchdog-recommendations').tBodies[0];
  body.replaceChildren(
    ...(recs.length === 0
      ? [el('tr', { class: 'empty-row' }, el('td', { colspan: 8, text: 'No recommendation yet.' }))]
      : recs.map((r) => {
          const change = r.recommended !== r.current;
          return el(
            'tr',
            { class: change ? (r.significant ? 'watchdog-significant' : 'watchdog-weak') : '' },
            el('td', { text: `${r.agent} · ${r.setting}` }),
            el('td', { text: r.strategies.join(', ') }),
            el('td', { class: 'r num', text: fmtNumber(r.current, 2) }),
            el('td', { class: 'r num', text: change ? fmtNumber(r.recommended, 2) : 'keep' }),
            el('td', { class: 'r num', text: change ? `${r.tradesBefore} → ${r.tradesAfter}` : String(r.tradesBefore) }),
            el('td', { class: 'r num', text: change ? `${fmtNumber(r.expectancyBeforePct, 3)} → ${fmtNumber(r.expectancyAfterPct, 3)}` : fmtNumber(r.expectancyBeforePct, 3) }),
            el('td', { class: 'r num', text: r.test ? fmtNumber(r.test.p, 3) : '—' }),
            el('td', { text: !change ? `${r.samples} decisions` : `${r.samples} decisions, ${r.changedDecisions} decided otherwise, ${r.significant ? 'significant' : 'not significant'}` }),
          );
        })),
  );
  byId('watchdog-alerts').replaceChildren(
    ...alerts.slice(0, 10).map((a) =>
      el(
        'li',
        { class: `level-${a.level}` },
        el('span', { class: 'dot', title: a.level }),
        el('span', { class: 'alert-code', text: a.code }),
        el('span', { class: 'alert-time num', text: fmtDateTime(a.timestamp, true) }),
        el('span', { class: 'alert-message', text: a.message }),
      ),
    ),
  );
}

function renderEvents() {
  const select = byId('event-type');
  const types = Object.keys(model.eventTypes).sort();
  const known = new Set([...select.options].map((o) => o.value));
  if (types.some((t) => !known.has(t)) || select.options.length !== types.length + 2) {
    const current = select.value;
    select.replaceChildren(
      el('option', { value: '', text: 'All but heartbeats' }),
      el('option', { value: '*', text: 'All events' }),
      ...types.map((t) => el('option', { value: t, text: `${t} (${model.eventTypes[t]})` })),
    );
    select.value = types.includes(current) || current === '*' ? current : '';
  } else {
    for (const option of select.options) if (option.value in model.eventTypes) option.textContent = `${option.value} (${model.eventTypes[option.value]})`;
  }
  if (ui.eventFilter.paused) return;
  const { type, text } = ui.eventFilter;
  const needle = text.trim().toLowerCase();
  const rows = [];
  for (let i = model.events.length - 1; i >= 0 && rows.length < MAX_EVENT_ROWS; i--) {
    const e = model.events[i];
    if (type !== '' && type !== '*' && e.type !== type) continue;
    const summary = summarize(e);
    if (needle !== '' && !`${e.type} ${e.source} ${summary} ${JSON.stringify(e.payload)}`.toLowerCase().includes(needle)) continue;
    rows.push(eventRow(e, summary));
  }
  const list = byId('events');
  list.replaceChildren(...(rows.length === 0 ? [el('p', { class: 'empty', text: needle || type ? 'No events match the filter.' : 'No events yet.' })] : rows));
}

function eventRow(e, summary) {
  const category = e.type.split('.')[0];
  const row = el(
    'div',
    { class: 'event-row', dataset: { type: e.type, id: e.id }, tabindex: '0' },
    el('span', { class: 'event-time num', text: fmtDateTime(e.ts, true) }),
    el('span', { class: `event-type t-${category}`, text: e.type }),
    el('span', { class: 'event-source', text: e.source }),
    el('span', { class: 'event-summary', text: summary }),
  );
  if (ui.expanded.has(e.id)) row.append(el('pre', { class: 'event-detail', text: JSON.stringify(e, null, 2) }));
  const toggle = () => {
    if (ui.expanded.has(e.id)) ui.expanded.delete(e.id);
    else ui.expanded.add(e.id);
    markDirty('events');
  };
  row.addEventListener('click', (ev) => {
    if (ev.target instanceof HTMLElement && ev.target.classList.contains('event-detail')) return;
    toggle();
  });
  row.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') toggle();
  });
  return row;
}

/** One line per event, from its payload; unknown types show their JSON. */
function summarize(e) {
  const p = e.payload ?? {};
  const px = (v, symbol) => fmtPrice(v, symbol ? digitsFor(symbol, v) : undefined);
  switch (e.type) {
    case 'candle.closed':
    case 'candle.updated':
      return `${p.symbol} ${p.timeframe} ${fmtDateTime(p.timestamp)}  O ${px(p.open, p.symbol)}  H ${px(p.high, p.symbol)}  L ${px(p.low, p.symbol)}  C ${px(p.close, p.symbol)}  V ${fmtNumber(p.volume, 0)}`;
    case 'price.tick':
      return `${p.symbol} ${px(p.price, p.symbol)}`;
    case 'trade.opened':
      return `${String(p.side).toUpperCase()} ${fmtQty(p.quantity)} ${p.symbol} @ ${px(p.entryPrice, p.symbol)}${p.stopLoss !== undefined ? ` · stop ${px(p.stopLoss, p.symbol)}` : ''}${p.takeProfit !== undefined ? ` · target ${px(p.takeProfit, p.symbol)}` : ''}`;
    case 'trade.closed':
      return `${p.symbol} ${p.side} closed @ ${px(p.exitPrice, p.symbol)} · P&L ${fmtSigned(p.pnl, currencyDigits()).text} (${fmtSigned(p.pnlPct, 2, '%').text}) · ${p.exitReason}`;
    case 'order.requested':
      return `${String(p.side).toUpperCase()} ${p.type} ${fmtQty(p.quantity)} ${p.symbol}${p.price !== undefined ? ` @ ${px(p.price, p.symbol)}` : ''} · ${p.purpose}`;
    case 'order.updated':
      return `${String(p.side).toUpperCase()} ${p.type} ${fmtQty(p.quantity)} ${p.symbol} · ${p.status}${p.filledQuantity > 0 ? ` · filled ${fmtQty(p.filledQuantity)}${p.averagePrice !== undefined ? ` @ ${px(p.averagePrice, p.symbol)}` : ''}` : ''}${p.reason ? ` · ${p.reason}` : ''}`;
    case 'order.cancel_requested':
      return `cancel ${p.clientOrderId} ${p.symbol} · ${p.reason}`;
    case 'position.updated':
      return `${p.symbol} ${p.side} ${fmtQty(p.quantity)} @ ${px(p.entryPrice, p.symbol)} · uPnL ${fmtSigned(p.unrealizedPnl, currencyDigits()).text}`;
    case 'account.updated':
      return `${p.venue} equity ${fmtNumber(p.equity, moneyDigits(p.quoteCurrency))} ${p.quoteCurrency}`;
    case 'risk.state':
      return `kill switch ${p.killSwitch ? 'ON' : 'off'}${p.reducingOnly ? ' · reducing only' : ''} · ${p.breakers.filter((b) => b.tripped).length} breaker(s) tripped · drawdown ${fmtNumber(p.drawdownPct, 2)}%`;
    case 'risk.command':
      return `${p.action} by ${p.by}: ${p.reason}`;
    case 'signal.generated':
      return `${p.strategyId} ${String(p.side).toUpperCase()} ${p.symbol} @ ${px(p.price, p.symbol)} · confidence ${fmtNumber(p.confidence, 2)} · ${p.reason}`;
    case 'signal.decided':
      return `${p.strategyId} ${p.symbol} ${p.side} ${p.decision}${p.reasons?.length ? ` · ${p.reasons.join('; ')}` : ''}`;
    case 'agent.status':
      return `${p.agentId} ${p.from} → ${p.to}${p.reason ? ` · ${p.reason}` : ''}`;
    case 'agent.heartbeat':
      return `${p.agentId} ${p.status} · errors ${p.errors} · in ${p.eventsIn} out ${p.eventsOut}`;
    case 'system.alert':
      return `[${p.level}] ${p.code}: ${p.message}`;
    case 'market.snapshot':
      return `${p.venue} · ${p.markets?.length ?? 0} markets · universe ${p.universe?.length ?? 0}`;
    default: {
      const json = JSON.stringify(p);
      return json.length > 200 ? `${json.slice(0, 200)}…` : json;
    }
  }
}

function renderClock() {
  const last = model.events[model.events.length - 1];
  const clock = byId('clock');
  clock.textContent = last === undefined ? '' : `${fmtDateTime(last.ts, true).slice(11)} UTC`;
  clock.title = last === undefined ? '' : `Latest event: ${fmtDateTime(last.ts, true)} UTC (${last.type} from ${last.source})`;
}

// ---------------------------------------------------------------- live stream

function setConnection(state) {
  ui.connection = state;
  const node = byId('connection');
  const labels = { connecting: 'CONNECTING', live: 'LIVE', reconnecting: 'RECONNECTING', stale: 'STALE', offline: 'OFFLINE', report: 'REPORT' };
  setText(node, labels[state] ?? state.toUpperCase(), `badge badge-${state}`);
  node.dataset.state = state;
  node.title =
    state === 'reconnecting'
      ? 'The live stream dropped; the browser is reconnecting by itself.'
      : state === 'stale'
        ? 'Connected, but nothing has arrived for a while: the dashboard agent may be stuck.'
        : state === 'offline'
          ? 'The dashboard server is not reachable; retrying.'
          : '';
}

function connect() {
  const source = new EventSource('/api/stream');
  ui.source = source;
  const touch = () => {
    ui.lastMessageAt = Date.now();
    if (ui.connection !== 'live') setConnection('live');
  };
  source.addEventListener('open', touch);
  source.addEventListener('snapshot', (e) => {
    touch();
    applySnapshot(JSON.parse(e.data));
  });
  source.addEventListener('event', (e) => {
    touch();
    applyEvent(JSON.parse(e.data));
  });
  source.addEventListener('health', (e) => {
    touch();
    applyHealth(JSON.parse(e.data));
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      // EventSource gives up on an HTTP error answer; keep trying on our own.
      setConnection('offline');
      source.close();
      setTimeout(connect, 5000);
    } else {
      setConnection('reconnecting');
    }
  });
}

function watchStaleness() {
  setInterval(() => {
    if (ui.mode !== 'live' || ui.connection !== 'live') return;
    if (Date.now() - ui.lastMessageAt > STALE_AFTER_MS) setConnection('stale');
  }, 1000);
}

// ---------------------------------------------------------------- reports

function showReport(snapshot, name) {
  if (snapshot === null || typeof snapshot !== 'object' || snapshot.version !== 1) {
    toast(`${name} is not a dashboard report (expected "version": 1; see docs/dashboard.md).`, 'error', 12_000);
    return;
  }
  ui.mode = 'report';
  ui.source?.close();
  setConnection('report');
  const title = String(snapshot.title ?? name);
  byId('connection').textContent = 'REPORT';
  byId('report-title').textContent = title;
  byId('report-title').title = title;
  byId('system-status').hidden = true;
  byId('kill-button').hidden = true;
  byId('flatten-button').hidden = true;
  // A report changes nothing live.
  byId('limits-edit').hidden = true;
  byId('back-live').hidden = false;
  byId('agents-panel').hidden = true;
  byId('report-panel').hidden = false;
  byId('footer-source').textContent = `Showing ${name}`;
  applySnapshot({ ...emptyModel(), ...snapshot });
  const metrics = snapshot.metrics && typeof snapshot.metrics === 'object' ? Object.entries(snapshot.metrics) : [];
  byId('report-generated').textContent = Number.isFinite(snapshot.generatedAt) ? `generated ${fmtDateTime(snapshot.generatedAt)} UTC` : '';
  byId('report-metrics').replaceChildren(
    ...(metrics.length === 0
      ? [el('p', { class: 'empty', text: 'This report has no summary figures.' })]
      : metrics.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: typeof v === 'number' ? fmtNumber(v, Math.abs(v) >= 100 ? 2 : 4, 0) : String(v) })))),
  );
}

async function loadReportUrl(path) {
  // Same-origin paths only: the page never fetches from elsewhere (and CSP would refuse it).
  if (!path.startsWith('/') || path.startsWith('//')) {
    toast('The report parameter must be a path on this server, e.g. ?report=/reports/backtest.json', 'error', 12_000);
    return;
  }
  ui.mode = 'report';
  setConnection('report');
  try {
    const res = await fetch(path, { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => undefined);
    if (!res.ok) {
      toast(`Report ${path}: ${body?.error?.message ?? `HTTP ${res.status}`}`, 'error', 15_000);
      return;
    }
    showReport(body, path.split('/').pop());
  } catch (err) {
    toast(`Report ${path} could not be loaded: ${err.message}`, 'error', 12_000);
  }
}

async function listReports() {
  try {
    const res = await fetch('/api/reports');
    if (!res.ok) return;
    const body = await res.json();
    if (!body.enabled || body.reports.length === 0) return;
    const select = byId('report-select');
    select.replaceChildren(el('option', { value: '', text: 'Reports…' }), ...body.reports.map((r) => el('option', { value: r.url, text: r.name })));
    select.hidden = false;
    select.addEventListener('change', () => {
      if (select.value) location.search = `?report=${encodeURIComponent(select.value)}`;
    });
  } catch {
    // The list is a convenience; the page works without it.
  }
}

// ---------------------------------------------------------------- kill switch

function openKillDialog() {
  ui.dialogAction = ui.killAction;
  const dialog = byId('kill-dialog');
  const resume = ui.dialogAction === 'resume';
  dialog.classList.toggle('resume', resume);
  byId('kill-title').textContent = resume ? 'Resume trading' : 'Engage kill switch';
  byId('kill-explain').textContent = resume
    ? 'Lifts the kill switch and reducing-only mode: strategies may open new positions again.'
    : 'Halts new entries and cancels working entry orders. Protective stops stay in place. The request goes through the main REST API, which checks your token.';
  const confirm = byId('kill-confirm');
  confirm.textContent = resume ? 'Resume trading' : 'Engage kill switch';
  confirm.className = `button ${resume ? 'button-resume' : 'button-danger'}`;
  byId('kill-reason').value = resume ? 'resumed from the dashboard' : 'manual stop from the dashboard';
  showKillResult('', '');
  dialog.showModal();
  byId('kill-token').focus();
}

function openFlattenDialog() {
  ui.dialogAction = 'flatten';
  const dialog = byId('kill-dialog');
  dialog.classList.remove('resume');
  byId('kill-title').textContent = 'Flatten every position';
  byId('kill-explain').textContent =
    'Engages the kill switch, cancels working entry orders, then closes every open position at market (reduce-only) once its protective orders are cancelled. The request goes through the main REST API, which checks your token.';
  const confirm = byId('kill-confirm');
  confirm.textContent = 'Flatten now';
  confirm.className = 'button button-danger';
  byId('kill-reason').value = 'flattened from the dashboard';
  showKillResult('', '');
  dialog.showModal();
  byId('kill-token').focus();
}

function showKillResult(status, message) {
  const node = byId('kill-result');
  node.dataset.status = status;
  node.textContent = message;
}

async function sendKillSwitch(event) {
  event.preventDefault();
  const action = ui.dialogAction ?? ui.killAction;
  const token = byId('kill-token').value.trim();
  const reason = byId('kill-reason').value.trim() || 'dashboard operator';
  const confirm = byId('kill-confirm');
  confirm.disabled = true;
  showKillResult('pending', 'Sending…');
  try {
    const headers = { 'content-type': 'application/json' };
    if (token !== '') headers.authorization = `Bearer ${token}`;
    const res = await fetch('/api/kill-switch', { method: 'POST', headers, body: JSON.stringify({ action, reason }) });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      // The trade manager's risk.state may already have arrived on the stream.
      const confirmed = model.risk !== null && model.risk.killSwitch === (action !== 'resume');
      const what = action === 'kill' ? 'Kill switch' : action === 'flatten' ? 'Flatten' : 'Resume';
      showKillResult('ok', `Accepted by the API (event ${body.eventId ?? '?'}).${confirmed ? ' Confirmed by the risk state.' : ' Waiting for the trade manager to confirm…'}`);
      if (!confirmed) toast(`${what} accepted by the API; waiting for the risk state to confirm.`, 'warning');
      setTimeout(() => byId('kill-dialog').close(), 1200);
    } else if (res.status === 401 || res.status === 403) {
      showKillResult('error', `Refused by the API (${res.status} ${body.error?.code ?? ''}): ${body.error?.message ?? 'not authorised'}`);
    } else {
      showKillResult('error', `Not done (${res.status} ${body.error?.code ?? ''}): ${body.error?.message ?? 'unexpected answer'}`);
    }
  } catch (err) {
    showKillResult('error', `The dashboard server did not answer: ${err.message}. The kill switch was NOT sent.`);
  } finally {
    confirm.disabled = false;
  }
}

// ---------------------------------------------------------------- risk limits

function showLimitsResult(status, message) {
  const node = byId('limits-result');
  node.dataset.status = status;
  node.textContent = message;
}

/** The form's filled fields as numbers; an empty field is left out (unchanged). */
function readLimits() {
  const out = {};
  for (const [id, key] of [
    ['limit-max-open', 'maxOpenPositions'],
    ['limit-daily-loss', 'dailyLossPct'],
    ['limit-risk-per-trade', 'riskPerTradePct'],
  ]) {
    const raw = byId(id).value.trim();
    if (raw !== '') out[key] = Number(raw);
  }
  return out;
}

async function sendLimits(event) {
  event.preventDefault();
  const limits = readLimits();
  if (Object.keys(limits).length === 0) {
    showLimitsResult('error', 'Fill in at least one limit to change.');
    return;
  }
  const token = byId('limits-token').value.trim();
  const apply = byId('limits-apply');
  apply.disabled = true;
  showLimitsResult('pending', 'Sending…');
  try {
    const headers = { 'content-type': 'application/json' };
    if (token !== '') headers.authorization = `Bearer ${token}`;
    const res = await fetch('/api/risk-limits', { method: 'POST', headers, body: JSON.stringify(limits) });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      const said = Object.entries(limits).map(([k, v]) => `${k} ${v}`).join(', ');
      showLimitsResult('ok', `Applied: ${said}. The next decision uses them.`);
      toast(`Risk limits changed: ${said}.`, 'ok');
    } else {
      showLimitsResult('error', `Not applied (${res.status} ${body.error?.code ?? ''}): ${body.error?.message ?? 'unexpected answer'}`);
    }
  } catch (err) {
    showLimitsResult('error', `The dashboard server did not answer: ${err.message}. Nothing was changed.`);
  } finally {
    apply.disabled = false;
  }
}

function onKillSwitchFlipped(risk) {
  toast(risk.killSwitch ? 'Kill switch ENGAGED: no new entries.' : 'Kill switch lifted: trading resumed.', risk.killSwitch ? 'error' : 'ok', 8000);
}

// ---------------------------------------------------------------- start

function wire() {
  byId('kill-button').addEventListener('click', openKillDialog);
  byId('flatten-button').addEventListener('click', openFlattenDialog);
  byId('kill-cancel').addEventListener('click', () => byId('kill-dialog').close());
  byId('kill-form').addEventListener('submit', sendKillSwitch);
  byId('limits-form').addEventListener('submit', sendLimits);
  byId('event-type').addEventListener('change', (e) => {
    ui.eventFilter.type = e.target.value;
    markDirty('events');
  });
  byId('event-search').addEventListener('input', (e) => {
    ui.eventFilter.text = e.target.value;
    markDirty('events');
  });
  byId('event-pause').addEventListener('click', (e) => {
    ui.eventFilter.paused = !ui.eventFilter.paused;
    e.currentTarget.setAttribute('aria-pressed', String(ui.eventFilter.paused));
    e.currentTarget.textContent = ui.eventFilter.paused ? 'Resume' : 'Pause';
    markDirty('events');
  });
  byId('report-file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (file === undefined) return;
    try {
      showReport(JSON.parse(await file.text()), file.name);
    } catch (err) {
      toast(`${file.name} is not valid JSON: ${err.message}`, 'error', 12_000);
    }
  });
}

function start() {
  if (window.LightweightCharts === undefined) {
    toast('The chart library did not load (/vendor/lightweight-charts.js).', 'error', 60_000);
    return;
  }
  wire();
  const report = new URLSearchParams(location.search).get('report');
  if (report) {
    void loadReportUrl(report);
  } else {
    connect();
    watchStaleness();
  }
  void listReports();
  markDirty('all');
}

start();
