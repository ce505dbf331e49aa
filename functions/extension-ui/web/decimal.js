// Exact decimal money arithmetic for the totals preview (never floating point): values are
// BigInt multiples of 10^-12, rounded half away from zero as QuickBooks (and rust_decimal's
// MidpointAwayFromZero) rounds.

const SCALE = 12n;
const ONE = 10n ** SCALE;

function divRound(n, d) {
  // n / d rounded half away from zero.
  const neg = (n < 0n) !== (d < 0n);
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  if ((an % ad) * 2n >= ad) q += 1n;
  return neg ? -q : q;
}

export class Dec {
  constructor(units) {
    this.u = units;
  }

  static of(value) {
    if (value instanceof Dec) return value;
    if (value === null || value === undefined || value === '') return new Dec(0n);
    const text = String(value).trim();
    const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text);
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) throw new Error(`not a number: ${text}`);
    const frac = (m[3] || '').slice(0, Number(SCALE)).padEnd(Number(SCALE), '0');
    let u = BigInt(m[2] || '0') * ONE + BigInt(frac || '0');
    if (m[1] === '-') u = -u;
    return new Dec(u);
  }

  static parse(value) {
    try {
      return Dec.of(value);
    } catch {
      return null;
    }
  }

  add(o) { return new Dec(this.u + Dec.of(o).u); }
  sub(o) { return new Dec(this.u - Dec.of(o).u); }
  mul(o) { return new Dec(divRound(this.u * Dec.of(o).u, ONE)); }
  div(o) {
    const d = Dec.of(o).u;
    if (d === 0n) throw new Error('division by zero');
    return new Dec(divRound(this.u * ONE, d));
  }
  round(dp = 2) {
    const f = 10n ** (SCALE - BigInt(dp));
    return new Dec(divRound(this.u, f) * f);
  }
  cmp(o) { const b = Dec.of(o).u; return this.u < b ? -1 : this.u > b ? 1 : 0; }
  isZero() { return this.u === 0n; }
  min(o) { return this.cmp(o) <= 0 ? this : Dec.of(o); }
  max(o) { return this.cmp(o) >= 0 ? this : Dec.of(o); }

  /** Plain string with `dp` decimals ("1250.00"). */
  toFixed(dp = 2) {
    const r = this.round(dp).u;
    const neg = r < 0n;
    const a = neg ? -r : r;
    const int = a / ONE;
    const frac = (a % ONE).toString().padStart(Number(SCALE), '0').slice(0, dp);
    return `${neg ? '-' : ''}${int}${dp > 0 ? '.' + frac : ''}`;
  }

  /** The shortest exact string (for JSON bodies). */
  toString() {
    const neg = this.u < 0n;
    const a = neg ? -this.u : this.u;
    const int = a / ONE;
    let frac = (a % ONE).toString().padStart(Number(SCALE), '0').replace(/0+$/, '');
    return `${neg ? '-' : ''}${int}${frac ? '.' + frac : ''}`;
  }
}

export const ZERO = new Dec(0n);
export const HUNDRED = Dec.of(100);

export function sum(values) {
  return values.reduce((acc, v) => acc.add(v), ZERO);
}
