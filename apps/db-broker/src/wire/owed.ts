export type OwedKind = 'parse' | 'bind' | 'describe' | 'execute' | 'close' | 'sync' | 'query' | 'fake';

/**
 * A response the server (or the broker itself) still owes a wire client, in the order the
 * client asked. One class for every kind: each server message reads fields of the head
 * entry, and one object shape keeps those reads monomorphic (a union of object literals
 * made them megamorphic and deoptimised the relay). The common entries are shared
 * constants, so a plain transaction allocates none.
 */
export class Owed {
  /** Parse, close: the answer is the broker's business, not relayed to the client. */
  swallow = false;
  /** Parse: the server name it prepares (taken back when the server refuses it). */
  prepares: string | undefined = undefined;
  /** Close: the statement it evicts (put back when the close is skipped). */
  evicts: string | undefined = undefined;
  /** Query: sent by the broker (a settings replay, a reset); its answer is not relayed. */
  internal = false;
  /** Execute, query: gets each CommandComplete tag. */
  onTag: ((tag: string) => void) | undefined = undefined;
  /** Query: runs at its ReadyForQuery. */
  done: (() => void) | undefined = undefined;
  /** Internal query: gets the body of each DataRow. */
  onRow: ((body: Buffer) => void) | undefined = undefined;
  /** Fake: an answer of the broker's own, sent when everything owed before it was. */
  bytes: Buffer | undefined = undefined;

  private constructor(readonly kind: OwedKind) {}

  static readonly BIND = new Owed('bind');
  static readonly DESCRIBE = new Owed('describe');
  static readonly SYNC = new Owed('sync');
  /** An Execute whose tag nobody reads. */
  static readonly EXECUTE = new Owed('execute');
  /** A client's query whose tag nobody reads. */
  static readonly QUERY = new Owed('query');
  /** A client's Close of a portal or the unnamed statement. */
  static readonly CLOSE = new Owed('close');

  static parse(swallow: boolean, prepares: string | undefined): Owed {
    const owed = new Owed('parse');
    owed.swallow = swallow;
    owed.prepares = prepares;
    return owed;
  }

  /** The broker's Close of a statement it evicts from a server connection. */
  static eviction(name: string): Owed {
    const owed = new Owed('close');
    owed.swallow = true;
    owed.evicts = name;
    return owed;
  }

  static execute(onTag: ((tag: string) => void) | undefined): Owed {
    if (onTag === undefined) return Owed.EXECUTE;
    const owed = new Owed('execute');
    owed.onTag = onTag;
    return owed;
  }

  /** A client's query (or function call). */
  static query(onTag: ((tag: string) => void) | undefined): Owed {
    if (onTag === undefined) return Owed.QUERY;
    const owed = new Owed('query');
    owed.onTag = onTag;
    return owed;
  }

  /** A query of the broker's own. */
  static internal(hooks: { done?: () => void; onTag?: (tag: string) => void; onRow?: (body: Buffer) => void } = {}): Owed {
    const owed = new Owed('query');
    owed.internal = true;
    owed.done = hooks.done;
    owed.onTag = hooks.onTag;
    owed.onRow = hooks.onRow;
    return owed;
  }

  static fake(bytes: Buffer): Owed {
    const owed = new Owed('fake');
    owed.bytes = bytes;
    return owed;
  }
}
