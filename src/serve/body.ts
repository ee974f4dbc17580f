// Request-body checks of the HTTP service, before any JSON is parsed: a charset other than UTF-8 is 415, a
// Content-Encoding (gzip, deflate, br...) is 415 (bodies are accepted uncompressed only, so the size limit
// is the real size), and bytes that are not valid UTF-8 are 400 naming the byte offset instead of being
// silently replaced. Not here: the body's fields (server.ts, src/inference).

import type { FastifyInstance } from 'fastify';
import { findInvalidUtf8 } from '../data/text-file.ts';

function httpError(statusCode: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Replaces fastify's JSON parser with one that checks charset and UTF-8, and refuses encoded bodies. */
export function installBodyChecks(app: FastifyInstance, bodyLimit: number): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    const enc = req.headers['content-encoding'];
    if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') {
      throw httpError(415, 'FT_UNSUPPORTED_ENCODING', `Content-Encoding "${enc}" is not accepted; send the body uncompressed (at most ${bodyLimit} bytes)`);
    }
    return payload;
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (req, body, done) => {
    const type = req.headers['content-type'] ?? '';
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(httpError(415, 'FT_UNSUPPORTED_CHARSET', `charset "${charset}" is not accepted; send JSON encoded as UTF-8 (Content-Type: application/json; charset=utf-8)`), undefined);
      return;
    }
    const bytes = body as Buffer;
    if (bytes.length === 0) {
      done(Object.assign(new Error('empty body'), { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }), undefined);
      return;
    }
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      done(httpError(400, 'FT_INVALID_UTF8', `the body is not valid UTF-8 (first bad byte at offset ${findInvalidUtf8(bytes)}); send JSON encoded as UTF-8`), undefined);
      return;
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(Object.assign(err as Error, { statusCode: 400 }), undefined);
    }
  });
}
