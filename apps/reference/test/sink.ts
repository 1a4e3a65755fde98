import { Writable } from 'node:stream';

/** A writable stream that keeps what the CLI wrote (stdout / stderr of an in-process CLI run). */
export function sink(): { stream: Writable; readonly text: string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return {
    stream,
    get text() {
      return text;
    },
  };
}
