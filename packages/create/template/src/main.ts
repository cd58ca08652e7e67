import { runBot } from './bot.js';

// One day of one-minute bars, played in a moment.
const { bars, moves } = await runBot({
  bars: 1_440,
  onMove: (move) => console.log(`${new Date(move.timestamp).toISOString()} ${move.symbol} moved ${(move.change * 100).toFixed(2)} %`),
});
console.log(`${bars} bars, ${moves.length} moves`);
