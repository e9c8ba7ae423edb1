/**
 * Request body decoding shared by every route: `Content-Encoding: gzip` (OTLP exporters compress by
 * default), protobuf bodies, and empty bodies. The body limit applies to the inflated bytes, so a small gzip
 * bomb is refused like any oversized body.
 */
import { Transform } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { errorCodes, type FastifyInstance } from 'fastify';
import { exceedsDepth, MAX_DEPTH, textMayExceedDepth, tooDeepError, tooDeepPath } from '../codec/index.ts';
import { InvalidInputError } from '../errors.ts';

/** Registers gzip/deflate request decoding, the protobuf content type and the empty-body rule. */
export function registerBodyDecoding(app: FastifyInstance): void {
  registerEmptyBodies(app);
  // A callback hook, not an async one: nearly every request has no encoding, and pays no promise for it.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding === undefined || encoding === 'identity') return done(null, payload);
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      return done(
        new InvalidInputError(`unsupported Content-Encoding '${encoding}'; use gzip, deflate or none`, {
          field: 'headers.content-encoding',
        }),
      );
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
    done(null, decoded);
  });

  app.addContentTypeParser(
    ['application/x-protobuf', 'application/protobuf'],
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
}

/**
 * An empty body means "no body" (the route sees `null`), whatever its content type, as the Agent Lightning
 * reference server treats it: aiohttp sends `post(url)` and `post(url, json=None)` as
 * `Content-Type: application/octet-stream` with `Content-Length: 0`, and Fastify would refuse that type with
 * 415 before the route's own rule (body optional or required) could answer. A non-empty body of a type no
 * parser takes is still 415; it is read first (within the body limit) to tell the two apart, which covers
 * chunked requests that announce no length too.
 */
function registerEmptyBodies(app: FastifyInstance): void {
  // `__proto__` and `constructor` keys are kept as plain data, as the library stores them: JSON.parse makes
  // them own properties (it never sets a prototype), and every copy of request data in the server defines
  // keys instead of assigning them (codec/json.ts setOwn).
  const parseJson = app.getDefaultJsonParser('ignore', 'ignore');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, null);
    return parseJson(request, text, (error, value) => {
      if (error) return done(error);
      // JSON.parse does not recurse, but validation, the codec and every later JSON.stringify do: a body
      // nested deeper than MAX_DEPTH is refused here, naming the path. Nesting d needs d opening brackets
      // in the text, so bodies with fewer (nearly all, span batches included) skip the walk.
      if (textMayExceedDepth(text) && exceedsDepth(value)) {
        return done(tooDeepError(tooDeepPath(value, MAX_DEPTH, 'body') ?? 'body'));
      }
      return done(null, value);
    });
  });
  // Fastify's own text/plain parser would hand an empty body to the route as '' (a string, not "no body").
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    done(null, body === '' ? null : body);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if (body.length === 0) return done(null, null);
    done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(request.headers['content-type']), undefined);
  });
}
