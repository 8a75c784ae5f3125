/**
 * `POST /api/v1/conversations/:id/attachments` with one multipart part named `file`
 * (docs/protocol.md §9), reporting upload progress. Browsers: XMLHttpRequest, whose
 * `upload.onprogress` tells the bytes on the wire (fetch cannot). Elsewhere (Node): fetch
 * with the multipart body as a stream, counted as fetch pulls it.
 */

export interface UploadOptions {
  filename?: string;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/** What an upload attempt answered: status and parsed JSON body (null when none). */
export interface UploadReply {
  status: number;
  body: unknown;
}

// The slice of XMLHttpRequest used, typed here so the SDK needs no DOM typings.
interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: unknown): void;
  abort(): void;
  readonly status: number;
  readonly responseText: string;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}
type XhrCtor = new () => XhrLike;

const abortError = () => new DOMException('The upload was aborted', 'AbortError');

const parse = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
};

const fileName = (file: Blob, opts: UploadOptions): string => {
  const name: unknown = (file as { name?: unknown }).name; // a File has one
  return opts.filename ?? (typeof name === 'string' && name ? name : 'file');
};

/** The browser way, when XMLHttpRequest exists. */
function viaXhr(Xhr: XhrCtor, url: string, token: string | null, file: Blob, opts: UploadOptions): Promise<UploadReply> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortError());
    const xhr = new Xhr();
    xhr.open('POST', url);
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => opts.onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    const onAbort = () => xhr.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => opts.signal?.removeEventListener('abort', onAbort);
    xhr.onload = () => {
      done();
      resolve({ status: xhr.status, body: parse(xhr.responseText) });
    };
    xhr.onerror = () => {
      done();
      reject(new TypeError('upload failed: network error'));
    };
    xhr.onabort = () => {
      done();
      reject(abortError());
    };
    const form = new FormData();
    form.append('file', file, fileName(file, opts));
    xhr.send(form);
  });
}

const CHUNK = 64 * 1024;

/** The fetch way: the multipart body streamed, progress counted as fetch reads it. */
async function viaFetch(
  fetchFn: typeof fetch,
  url: string,
  token: string | null,
  file: Blob,
  opts: UploadOptions,
): Promise<UploadReply> {
  const boundary = `natter-${crypto.randomUUID()}`;
  const name = fileName(file, opts).replace(/["\r\n\\]/g, '_');
  const enc = new TextEncoder();
  const head = enc.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
      `Content-Type: ${file.type || 'application/octet-stream'}\r\n\r\n`,
  );
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  const total = file.size;
  let offset = 0;
  let stage: 'head' | 'file' | 'tail' | 'done' = 'head';
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (stage === 'head') {
          stage = 'file';
          controller.enqueue(head);
          opts.onProgress?.(0, total);
        } else if (stage === 'file' && offset < total) {
          const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
          offset += chunk.byteLength;
          controller.enqueue(chunk);
          opts.onProgress?.(offset, total);
        } else if (stage !== 'done' && stage !== 'tail') {
          stage = 'tail';
          controller.enqueue(tail);
        } else {
          stage = 'done';
          controller.close();
        }
      },
    },
    { highWaterMark: 0 },
  );
  const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  if (token) headers.authorization = `Bearer ${token}`;
  // `duplex` is what Node's fetch needs for a streamed body; a variable, as DOM's RequestInit has no such key.
  const init = { method: 'POST', headers, body, duplex: 'half', signal: opts.signal };
  const res = await fetchFn(url, init as RequestInit);
  return { status: res.status, body: parse(await res.text()) };
}

/** One attempt at the upload with `token`; a 401 is for the caller to refresh and try again. */
export function uploadOnce(
  fetchFn: typeof fetch,
  url: string,
  token: string | null,
  file: Blob,
  opts: UploadOptions & { transport?: 'xhr' | 'fetch' },
): Promise<UploadReply> {
  const Xhr = (globalThis as { XMLHttpRequest?: XhrCtor }).XMLHttpRequest;
  if (Xhr && opts.transport !== 'fetch') return viaXhr(Xhr, url, token, file, opts);
  return viaFetch(fetchFn, url, token, file, opts);
}
