/**
 * Large pages are sent as a stream of JSON text, a few hundred items at a time, instead of one string:
 * `limit=-1` means "all" (as in Agent Lightning), and 200,000 rollouts as one JSON string, next to its
 * snake_case copy, took hundreds of megabytes at once (and text beyond V8's string limit cannot be built
 * at all). Each item is released once written, so the memory held falls as the answer goes out.
 */
import { Readable } from 'node:stream';
import type { PaginatedResult } from '../../rollouts/index.ts';
import { pageToWire, type Wire } from './wire.ts';

/** Pages with more items than this are streamed; smaller ones are answered as one JSON value. */
export const STREAM_PAGE_ITEMS = 1000;
// Items serialized per chunk written to the socket.
const CHUNK_ITEMS = 256;

function* pageText<T>(page: PaginatedResult<T>, map: (item: T) => Wire): Generator<string> {
  const items = page.items as Array<T | undefined>;
  yield '{"items":[';
  for (let start = 0; start < items.length; start += CHUNK_ITEMS) {
    const end = Math.min(items.length, start + CHUNK_ITEMS);
    const parts: string[] = [];
    for (let i = start; i < end; i++) {
      parts.push(JSON.stringify(map(items[i] as T)));
      items[i] = undefined;
    }
    yield (start === 0 ? '' : ',') + parts.join(',');
  }
  yield `],"limit":${JSON.stringify(page.limit)},"offset":${JSON.stringify(page.offset)},"total":${JSON.stringify(page.total)}}`;
}

/** The wire form of a page: one JSON value when small, a Readable of JSON text when large. */
export function pageAnswer<T>(page: PaginatedResult<T>, map: (item: T) => Wire): Wire | Readable {
  if (page.items.length <= STREAM_PAGE_ITEMS) return pageToWire(page, map);
  return Readable.from(pageText(page, map), { objectMode: false });
}
