/**
 * Request body decoding shared by every route: `Content-Encoding: gzip` (OTLP exporters compress by
 * default) and protobuf bodies. The body limit applies to the inflated bytes, so a small gzip bomb is
 * refused like any oversized body.
 */
import { Transform } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../errors.ts';

/** Registers gzip/deflate request decoding and the protobuf content type. */
export function registerBodyDecoding(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding'];
    if (encoding === undefined || encoding === 'identity') return payload;
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      throw new InvalidInputError(`unsupported Content-Encoding '${encoding}'; use gzip, deflate or none`, {
        field: 'headers.content-encoding',
      });
    }
    // Fastify compares the bytes received with Content-Length through `receivedEncodedLength`.
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback(null, chunk);
      },
    });
    const inflater = encoding === 'gzip' ? createGunzip() : createInflate();
    const decoded = payload.pipe(counter).pipe(inflater) as typeof inflater & {
      receivedEncodedLength: number;
    };
    Object.defineProperty(decoded, 'receivedEncodedLength', { get: () => received });
    payload.on('error', (error) => decoded.destroy(error));
    delete request.headers['content-encoding'];
    return decoded;
  });

  app.addContentTypeParser(
    ['application/x-protobuf', 'application/protobuf'],
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
}
