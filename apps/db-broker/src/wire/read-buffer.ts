import type { OnReadOpts } from 'node:net';

/** Bytes one read of a socket takes at most; a longer message arrives in several reads. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Node `onread` options that read a socket into one buffer, reused from read to read:
 * `read` gets the buffer and the length read into it, and returns whether it kept a
 * reference to those bytes past the call (an incomplete message, a write that did not
 * complete at once); the next read then goes to a new buffer instead of overwriting them.
 */
export function reusedReadBuffer(read: (bytes: Buffer, length: number) => boolean): OnReadOpts {
  let buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  let kept = false;
  return {
    // Asked before every read.
    buffer: () => {
      if (kept) {
        buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
        kept = false;
      }
      return buffer;
    },
    // `bytes` is the buffer handed out last.
    callback: (nread: number, bytes: Uint8Array) => {
      kept = read(bytes as Buffer, nread);
      return true;
    },
  };
}
