/**
 * Large pages are sent as a stream of JSON text, a few hundred items at a time, instead of one string:
 * `limit=-1` means "all" (as in Agent Lightning), and 200,000 rollouts as one JSON string, next to its
 * snake_case copy, took hundreds of megabytes at once (and text beyond V8's string limit cannot be built
 * at all). Each item is released once written, so the memory held falls as the answer goes out. A store
 * that reads in pages (`iterateRollouts`, `iterateSpans`, `iterateAttempts`, `iterateResources`,
 * `iterateWorkers`) is streamed page by page: each page is read from the database only when the socket took
 * the one before, so memory stays flat however many items match.
 */
import { Readable } from 'node:stream';
import type { PaginatedResult } from '../../rollouts/index.ts';
import { pageToWire, type Wire } from './wire.ts';

/** Pages with more items than this are streamed; smaller ones are answered as one JSON value. */
export const STREAM_PAGE_ITEMS = 1000;
// Items serialized per chunk written to the socket.
const CHUNK_ITEMS = 256;

// The items as JSON text chunks (each item released once written), `first` telling whether an item was
// already written before these.
function* itemsText<T>(
  items: Array<T | undefined>,
  map: (item: T) => Wire,
  first: boolean,
): Generator<string> {
  for (let start = 0; start < items.length; start += CHUNK_ITEMS) {
    const end = Math.min(items.length, start + CHUNK_ITEMS);
    const parts: string[] = [];
    for (let i = start; i < end; i++) {
      parts.push(JSON.stringify(map(items[i] as T)));
      items[i] = undefined;
    }
    yield (start === 0 && first ? '' : ',') + parts.join(',');
  }
}

/** The paging fields after the items. */
type PageTail = Omit<PaginatedResult<unknown>, 'items'>;

function tailText(page: PageTail): string {
  return `],"limit":${JSON.stringify(page.limit)},"offset":${JSON.stringify(page.offset)},"total":${JSON.stringify(page.total)}}`;
}

function* pageText<T>(page: PaginatedResult<T>, map: (item: T) => Wire): Generator<string> {
  yield '{"items":[';
  yield* itemsText(page.items as Array<T | undefined>, map, true);
  yield tailText(page);
}

/** The wire form of a page: one JSON value when small, a Readable of JSON text when large. */
export function pageAnswer<T>(page: PaginatedResult<T>, map: (item: T) => Wire): Wire | Readable {
  if (page.items.length <= STREAM_PAGE_ITEMS) return pageToWire(page, map);
  return Readable.from(pageText(page, map), { objectMode: false });
}

async function* pagesText<T>(
  pages: AsyncIterable<T[]>,
  map: (item: T) => Wire,
  tail: PageTail,
): AsyncGenerator<string> {
  yield '{"items":[';
  let first = true;
  for await (const items of pages) {
    if (items.length === 0) continue;
    yield* itemsText(items as Array<T | undefined>, map, first);
    first = false;
  }
  yield tailText(tail);
}

/**
 * A page read in pages from the store, as a Readable of JSON text in the shape of `pageAnswer`: pulled by
 * the socket, so the next store page is read only once the text before it was taken.
 */
export function pagesAnswer<T>(pages: AsyncIterable<T[]>, map: (item: T) => Wire, tail: PageTail): Readable {
  return Readable.from(pagesText(pages, map, tail), { objectMode: false });
}

/** One listing of a route: its limit (-1 = all), and how the store reads it. */
export interface Listing<T> {
  limit: number;
  offset: number;
  /** The listing with one query (`queryX(query)`), or with `limit` in its place (0: the total only). */
  query(limit?: number): Promise<PaginatedResult<T>>;
  /** The listing in pages (`iterateX(query)`); undefined when the store cannot read in pages. */
  iterate: (() => AsyncIterable<T[]>) | undefined;
  /** Times the store reads made before answering (the query, or the first page and the count). */
  time<R>(read: () => Promise<R>): Promise<R>;
}

/**
 * The answer of a listing: one query when it is small (at most STREAM_PAGE_ITEMS) or the store cannot read
 * in pages; otherwise read from the store in pages. Pages are read before answering until they hold more
 * than STREAM_PAGE_ITEMS items or the read ends: a read that ends there (a trainer asking for all spans of
 * a rollout, nearly always) is answered as one value, its total known without a count; a longer one is
 * streamed as it is read, the total counted first. Either way arguments only the read checks are a coded
 * error, not a stream cut off after the status line.
 */
export async function listingAnswer<T>(
  listing: Listing<T>,
  map: (item: T) => Wire,
): Promise<Wire | Readable> {
  const { limit, iterate, time } = listing;
  if (iterate === undefined || (limit !== -1 && limit <= STREAM_PAGE_ITEMS)) {
    return pageAnswer(await time(() => listing.query()), map);
  }
  const pages = iterate()[Symbol.asyncIterator]();
  const head: T[][] = [];
  let read = 0;
  let done = false;
  while (!done && read <= STREAM_PAGE_ITEMS) {
    const next = await time(() => pages.next());
    if (next.done) done = true;
    else {
      head.push(next.value);
      read += next.value.length;
    }
  }
  if (done) {
    const items = head.flat();
    const { offset } = listing;
    // The read ended before its limit: what matched is what was skipped plus what was read. Nothing read
    // past a non-zero offset says nothing of how many were skipped: count them.
    const total =
      items.length > 0 || offset === 0 ? offset + items.length : (await time(() => listing.query(0))).total;
    return pageToWire({ items, limit, offset, total }, map);
  }
  const counted = await time(() => listing.query(0));
  async function* all(): AsyncGenerator<T[]> {
    yield* head.splice(0);
    for (let next = await pages.next(); !next.done; next = await pages.next()) yield next.value;
  }
  return pagesAnswer(all(), map, { limit, offset: counted.offset, total: counted.total });
}
