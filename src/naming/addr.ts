/** What a bound name resolves to, over time (Finagle's Addr). */
export interface Address {
  readonly host: string;
  readonly port: number;
  readonly meta: Readonly<Record<string, unknown>>;
}

export type Addr =
  | { readonly type: 'pending' }
  | { readonly type: 'neg' }
  | { readonly type: 'failed'; readonly cause: Error }
  | { readonly type: 'bound'; readonly addrs: readonly Address[]; readonly meta: Readonly<Record<string, unknown>> };

/** Finagle's WeightedAddress metadata key: an address's relative weight (a number, default 1). */
export const WEIGHT_KEY = 'endpoint_addr_weight';

export const ADDR_PENDING: Addr = Object.freeze({ type: 'pending' });
export const ADDR_NEG: Addr = Object.freeze({ type: 'neg' });
