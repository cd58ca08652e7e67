// Price and equity charts on TradingView Lightweight Charts v5 (window.LightweightCharts, from
// /vendor/lightweight-charts.js).
import { el, fmtPrice, fmtQty, fmtSigned, priceDigits } from './dom.js';

const LWC = window.LightweightCharts;

const COLORS = {
  up: '#2ebd85',
  down: '#f6465d',
  text: '#8a96a6',
  grid: '#18202a',
  border: '#232c38',
  entry: '#3d8bfd',
  volumeUp: 'rgba(46, 189, 133, 0.28)',
  volumeDown: 'rgba(246, 70, 93, 0.28)',
};

function baseOptions() {
  return {
    autoSize: true,
    layout: {
      background: { type: LWC.ColorType.Solid, color: '#11161d' },
      textColor: COLORS.text,
      fontFamily: "'JetBrains Mono', ui-monospace, 'DejaVu Sans Mono', monospace",
      fontSize: 11,
      // The built-in logo injects a <style> element, which the page's CSP forbids; the footer
      // credits TradingView with a link instead, as the library's licence notice asks.
      attributionLogo: false,
    },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    rightPriceScale: { borderColor: COLORS.border },
    timeScale: { borderColor: COLORS.border, timeVisible: true, secondsVisible: false, rightOffset: 4 },
    crosshair: { mode: LWC.CrosshairMode.Normal },
  };
}

const seconds = (ms) => Math.floor(ms / 1000);
const LABELLED_MARKERS = 4;

/** One symbol: candles, volume, trade markers, and entry/stop/target lines of open trades. */
export class PriceChart {
  constructor(parent, symbol, timeframe) {
    this.symbol = symbol;
    this.timeframe = timeframe;
    this.bars = [];
    this.digits = 2;
    this.last = el('span', { class: 'chart-last num' });
    this.change = el('span', { class: 'chart-change num' });
    this.ohlc = el('span', { class: 'chart-ohlc num' });
    this.position = el('span', { class: 'chart-position', hidden: true });
    this.body = el('div', { class: 'chart-body' });
    this.card = el(
      'div',
      { class: 'chart-card', dataset: { symbol, markers: '0' } },
      el('div', { class: 'chart-head' }, el('span', { class: 'chart-symbol', text: symbol }), el('span', { class: 'chart-tf', text: timeframe }), this.last, this.change, this.ohlc, this.position),
      this.body,
    );
    parent.append(this.card);
    this.chart = LWC.createChart(this.body, baseOptions());
    // About 140 bars across the chart, whatever the number loaded: a trader's usual window.
    const width = this.body.clientWidth || 600;
    this.chart.timeScale().applyOptions({ barSpacing: Math.max(3, Math.min(12, (width - 80) / 140)) });
    this.candles = this.chart.addSeries(LWC.CandlestickSeries, {
      upColor: COLORS.up,
      downColor: COLORS.down,
      borderVisible: false,
      wickUpColor: COLORS.up,
      wickDownColor: COLORS.down,
    });
    this.volume = this.chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: 'volume', lastValueVisible: false, priceLineVisible: false });
    this.chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.22 } });
    this.markers = LWC.createSeriesMarkers(this.candles, []);
    this.lines = [];
    this.chart.subscribeCrosshairMove((param) => {
      const bar = param.time === undefined ? undefined : this.bars.find((b) => seconds(b.time) === param.time);
      this.showOhlc(bar ?? this.bars[this.bars.length - 1]);
    });
  }

  /** Replaces every bar (snapshot, or an out-of-order bar). */
  setBars(bars, forming) {
    this.bars = bars.slice();
    if (forming !== undefined && (this.bars.length === 0 || forming.time > this.bars[this.bars.length - 1].time)) this.bars.push(forming);
    this.adjustPrecision();
    this.candles.setData(this.bars.map(toCandle));
    this.volume.setData(this.bars.map(toVolume));
    this.chart.timeScale().scrollToRealTime();
    this.refreshHead();
  }

  /** A closed or forming bar: appended, or replacing the last one. */
  updateBar(bar) {
    const last = this.bars[this.bars.length - 1];
    if (last !== undefined && bar.time < last.time) {
      const i = this.bars.findIndex((b) => b.time >= bar.time);
      if (this.bars[i].time === bar.time) this.bars[i] = bar;
      else this.bars.splice(i, 0, bar);
      this.setBars(this.bars);
      return;
    }
    if (last !== undefined && bar.time === last.time) this.bars[this.bars.length - 1] = bar;
    else this.bars.push(bar);
    if (this.bars.length === 1) this.adjustPrecision();
    this.candles.update(toCandle(bar));
    this.volume.update(toVolume(bar));
    this.refreshHead();
  }

  /** Trade markers (entries and exits) and lines for the open trades of this symbol. */
  setTrades(trades, position) {
    const markers = [];
    for (const t of trades) {
      if (t.symbol !== this.symbol) continue;
      const long = t.side === 'long';
      const entryTime = this.barTime(t.openedAt);
      if (entryTime !== undefined) {
        markers.push({
          id: `${t.tradeId}:in`,
          time: entryTime,
          position: long ? 'belowBar' : 'aboveBar',
          shape: long ? 'arrowUp' : 'arrowDown',
          color: long ? COLORS.up : COLORS.down,
          text: `${long ? 'BUY' : 'SELL'} ${fmtQty(t.quantity)}`,
        });
      }
      if (t.status === 'closed' && t.closedAt !== undefined) {
        const exitTime = this.barTime(t.closedAt);
        if (exitTime === undefined) continue;
        const pnl = fmtSigned(t.pnlPct, 2, '%');
        markers.push({
          id: `${t.tradeId}:out`,
          time: exitTime,
          position: long ? 'aboveBar' : 'belowBar',
          shape: long ? 'arrowDown' : 'arrowUp',
          color: (t.pnl ?? 0) >= 0 ? COLORS.up : COLORS.down,
          text: `EXIT ${pnl.text}`,
        });
      }
    }
    markers.sort((a, b) => a.time - b.time);
    // Labels on the latest few only: on a busy chart they would cover the candles.
    for (const marker of markers.slice(0, -LABELLED_MARKERS)) delete marker.text;
    this.markers.setMarkers(markers);
    this.card.dataset.markers = String(markers.length);

    for (const line of this.lines) this.candles.removePriceLine(line);
    this.lines = [];
    for (const t of trades) {
      if (t.symbol !== this.symbol || t.status !== 'open') continue;
      this.lines.push(this.candles.createPriceLine({ price: t.entryPrice, color: COLORS.entry, lineWidth: 1, lineStyle: LWC.LineStyle.Dashed, axisLabelVisible: true, title: 'Entry' }));
      if (t.stopLoss !== undefined) this.lines.push(this.candles.createPriceLine({ price: t.stopLoss, color: COLORS.down, lineWidth: 1, lineStyle: LWC.LineStyle.Dotted, axisLabelVisible: true, title: 'Stop' }));
      if (t.takeProfit !== undefined) this.lines.push(this.candles.createPriceLine({ price: t.takeProfit, color: COLORS.up, lineWidth: 1, lineStyle: LWC.LineStyle.Dotted, axisLabelVisible: true, title: 'Target' }));
    }

    if (position === undefined) {
      this.position.hidden = true;
    } else {
      this.position.hidden = false;
      this.position.className = `chart-position ${position.side}`;
      const upnl = fmtSigned(position.unrealizedPnl, 6);
      this.position.textContent = `${position.side.toUpperCase()} ${fmtQty(position.quantity)} @ ${fmtPrice(position.entryPrice, this.digits)} · uPnL ${upnl.text}`;
    }
  }

  remove() {
    this.chart.remove();
    this.card.remove();
  }

  /** Time of the bar that contains `ms`, in chart seconds; undefined outside the loaded bars. */
  barTime(ms) {
    const bars = this.bars;
    if (bars.length === 0 || ms < bars[0].time) return undefined;
    let lo = 0;
    let hi = bars.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (bars[mid].time <= ms) lo = mid;
      else hi = mid - 1;
    }
    return seconds(bars[lo].time);
  }

  adjustPrecision() {
    const sample = this.bars[this.bars.length - 1];
    if (sample === undefined) return;
    const digits = priceDigits(sample.close);
    if (digits === this.digits) return;
    this.digits = digits;
    this.candles.applyOptions({ priceFormat: { type: 'price', precision: digits, minMove: 10 ** -digits } });
  }

  refreshHead() {
    const n = this.bars.length;
    const last = this.bars[n - 1];
    if (last === undefined) return;
    const previous = this.bars[n - 2];
    this.last.textContent = fmtPrice(last.close, this.digits);
    this.last.className = `chart-last num ${previous === undefined ? '' : last.close >= previous.close ? 'pos' : 'neg'}`;
    const first = this.bars[0];
    const change = first.open === 0 ? undefined : ((last.close - first.open) / first.open) * 100;
    const signed = fmtSigned(change, 2, '%');
    this.change.textContent = signed.text;
    this.change.className = `chart-change num ${signed.cls}`;
    this.change.title = 'Change over the bars shown';
    this.showOhlc(last);
  }

  showOhlc(bar) {
    this.ohlc.replaceChildren();
    if (bar === undefined) return;
    for (const [label, value] of [['O', bar.open], ['H', bar.high], ['L', bar.low], ['C', bar.close]]) {
      this.ohlc.append(`${label} `, el('b', { text: fmtPrice(value, this.digits) }));
    }
  }
}

function toCandle(bar) {
  return { time: seconds(bar.time), open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

function toVolume(bar) {
  return { time: seconds(bar.time), value: bar.volume ?? 0, color: bar.close >= bar.open ? COLORS.volumeUp : COLORS.volumeDown };
}

/** The account's equity over time. */
export class EquityChart {
  constructor(container) {
    this.chart = LWC.createChart(container, {
      ...baseOptions(),
      timeScale: { borderColor: COLORS.border, timeVisible: true, secondsVisible: false },
      handleScroll: false,
      handleScale: false,
    });
    this.series = this.chart.addSeries(LWC.AreaSeries, {
      lineColor: COLORS.entry,
      topColor: 'rgba(61, 139, 253, 0.35)',
      bottomColor: 'rgba(61, 139, 253, 0.02)',
      lineWidth: 2,
      priceLineVisible: false,
    });
    this.lastTime = undefined;
  }

  setPoints(points, digits) {
    this.series.applyOptions({ priceFormat: { type: 'price', precision: digits, minMove: 10 ** -digits } });
    // One point per chart second (the chart's resolution), the latest winning.
    const bySecond = new Map();
    for (const p of points) bySecond.set(seconds(p.time), p.equity);
    const data = [...bySecond.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
    this.series.setData(data);
    this.lastTime = data.length > 0 ? data[data.length - 1].time : undefined;
    this.chart.timeScale().fitContent();
  }

  addPoint(point) {
    const time = seconds(point.time);
    if (this.lastTime !== undefined && time < this.lastTime) return false;
    this.series.update({ time, value: point.equity });
    this.lastTime = time;
    return true;
  }
}
