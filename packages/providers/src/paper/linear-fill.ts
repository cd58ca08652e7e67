const EPS = 1e-12;

/** A linear perpetual position on isolated margin: signed quantity, average entry, margin held. */
export interface LinearPosition {
  quantity: number;
  entryPrice: number;
  margin: number;
}

/** The wallet of the settle currency: what it holds in all, and what margin holds of it. */
export interface MarginWallet {
  total: number;
  used: number;
}

/**
 * Books a fill of `signed` contracts (positive buys) at `price` into an isolated-margin position
 * and its wallet, as the paper exchange keeps them (fees are the caller's): a fill on the side
 * of the position adds at the average entry and holds notional ÷ leverage more margin; one
 * against it closes up to the position's size, realising its P&L into the wallet and releasing
 * its share of the margin, and what is left over opens the other side at `price`. Returns the
 * realised P&L and whether the fill opened or added to a position.
 */
export function applyLinearFill(pos: LinearPosition, wallet: MarginWallet, signed: number, price: number, leverage: number): { pnl: number; opened: boolean } {
  const quantity = Math.abs(signed);
  if (pos.quantity === 0 || Math.sign(pos.quantity) === Math.sign(signed)) {
    const size = Math.abs(pos.quantity) + quantity;
    pos.entryPrice = (pos.entryPrice * Math.abs(pos.quantity) + price * quantity) / size;
    pos.quantity += signed;
    const margin = (quantity * price) / leverage;
    pos.margin += margin;
    wallet.used += margin;
    return { pnl: 0, opened: true };
  }
  const closing = Math.min(quantity, Math.abs(pos.quantity));
  const pnl = closing * (price - pos.entryPrice) * Math.sign(pos.quantity);
  wallet.total += pnl;
  const released = pos.margin * (closing / Math.abs(pos.quantity));
  pos.margin -= released;
  wallet.used = Math.max(0, wallet.used - released);
  pos.quantity += Math.sign(signed) * closing;
  const opening = quantity - closing;
  if (Math.abs(pos.quantity) <= EPS) {
    pos.quantity = 0;
    pos.margin = 0;
  }
  if (!(opening > EPS)) return { pnl, opened: false };
  pos.quantity = Math.sign(signed) * opening;
  pos.entryPrice = price;
  pos.margin = (opening * price) / leverage;
  wallet.used += pos.margin;
  return { pnl, opened: true };
}
